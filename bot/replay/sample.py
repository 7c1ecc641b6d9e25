"""A seeded, deterministic sample community for ``steward demo`` and tests: newcomers, lurkers,
askers, helpers, a few future ambassadors, Dutch speakers, bots and a few rule-breakers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.core.events import Event, MemberJoined, MessagePosted, ReactionAdded
from bot.core.records import Channel, Member

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)

CHANNELS = {
    "general": "C01GENERAL",
    "help": "C02HELP",
    "introductions": "C03INTRO",
    "welcome": "C04WELCOME",
    "announcements": "C05ANNOUNCE",
    "moderators": "C06MODS",
    "random": "C07RANDOM",
    "showcase": "C08SHOWCASE",
}

FIRST = ["Ada", "Bram", "Chen", "Dana", "Emre", "Fleur", "Gita", "Hugo", "Ines", "Joost", "Kofi", "Lotte",
         "Mira", "Noor", "Omar", "Pia", "Quinn", "Rosa", "Sem", "Tara", "Umar", "Vera", "Wout", "Xia",
         "Yara", "Zeno", "Anouk", "Bas", "Cas", "Daan", "Eva", "Finn", "Lena", "Milan", "Sara", "Tim"]
LAST = ["de Vries", "Jansen", "Okafor", "Novak", "Silva", "Kim", "Bakker", "Visser", "Smit", "Meijer",
        "Haddad", "Kowalski", "Nguyen", "Mulder", "Dekker", "Brouwer", "Peters", "Hendriks"]

Q_EN = [
    "How do I configure the proxy for the installer?",
    "Anyone know why the build fails with a missing header on arm64?",
    "What's the best way to migrate my settings from the old version?",
    "Is there a way to run the tests without network access?",
    "Why does the sync stop after an hour? Any ideas?",
    "Can someone explain how plugins are loaded at startup?",
    "How can I export my data to CSV?",
    "Does anyone have a working config for two monitors?",
    "What does the error 'permission denied (publickey)' mean here?",
    "Which version should I use for production right now?",
]
Q_NL = [
    "Hoe stel ik de proxy in voor de installer?",
    "Kan iemand uitleggen waarom de build faalt op arm64?",
    "Wat is de beste manier om mijn instellingen over te zetten?",
    "Weet iemand hoe ik mijn gegevens naar CSV exporteer?",
]
ANSWERS = [
    "You need to set the proxy in the config file, under [network]; the docs page on networking has an example.",
    "That header comes from the dev package; install it first and the build goes through.",
    "Use the migrate command, it copies everything over and keeps a backup.",
    "Yes: set OFFLINE=1 and the test runner skips the network tests.",
    "It's a known bug in 2.3, fixed in 2.4. Upgrading should sort it.",
    "Plugins are discovered from the plugins folder and loaded in alphabetical order.",
]
ANSWERS_NL = ["Je moet de proxy in het configuratiebestand zetten, onder [network].",
              "Die header zit in het dev-pakket; installeer dat eerst."]
THANKS = ["thanks, that worked!", "thank you, fixed it", "great, thanks!", "bedankt, het werkt!"]
CHAT = ["Good morning all", "Just shipped my first plugin, feedback welcome", "Nice release notes today",
        "Anyone going to the meetup next week", "Coffee time", "I wrote a short guide on setting up the dev env",
        "The new docs look great", "Loving the community call recordings", "Working on the translations today"]
INTROS = ["Hi all, I'm new here, working on home automation", "Hello! Long-time user, first time posting",
          "Hey everyone, I'm a student learning to contribute", "Hoi allemaal, ik ben nieuw hier"]


@dataclass
class SampleCommunity:
    members: list[Member]
    channels: list[Channel]
    events: list[Event]
    roles: dict[str, str] = field(default_factory=dict)  # member id -> persona
    start: datetime = START
    end: datetime = START


class _Ts:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, at: datetime) -> str:
        base = at.timestamp()
        i = 0
        while True:
            ts = f"{base:.6f}"[:-6] + f"{(int(round(base % 1 * 1e6)) + i) % 1_000_000:06d}"
            if ts not in self.seen:
                self.seen.add(ts)
                return ts
            i += 1


# the fixed cast (staff, ambassadors, helpers, askers, chatters, rule breakers) is 128 people; the rest
# are lurkers, and the lurker scenes need some of them
MIN_MEMBERS = 130


def generate(seed: int = 7, n_members: int = 320, days: int = 90) -> SampleCommunity:
    if n_members < MIN_MEMBERS:
        raise ValueError(f"the sample community needs at least {MIN_MEMBERS} members, not {n_members}")
    rng = random.Random(seed)
    end = START + timedelta(days=days)
    ts = _Ts()
    members: list[Member] = []
    roles: dict[str, str] = {}
    events: list[Event] = []

    def at_day(day: float) -> datetime:
        return START + timedelta(days=day, minutes=rng.randint(0, 600))

    personas = (["staff"] * 3 + ["ambassador"] * 5 + ["helper"] * 12 + ["asker"] * 60 + ["chatter"] * 45
                + ["rulebreaker"] * 3)
    personas += ["lurker"] * max(0, n_members - len(personas))
    rng.shuffle(personas)
    # staff and future ambassadors are there from the start
    personas.sort(key=lambda p: 0 if p in ("staff", "ambassador") else 1)
    for i, persona in enumerate(personas):
        mid = f"U{i + 1:04d}DEMO"
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if i == len(personas) - 1:  # a hostile display name: it must come out inert everywhere
            name = "@everyone <!channel> **bold**"
        dutch = rng.random() < 0.2
        joined = at_day(0 if persona in ("staff", "ambassador") else rng.uniform(0, days - 3))
        if persona == "helper":
            joined = at_day(rng.uniform(0, 20))
        if persona == "lurker" and rng.random() < 0.6:
            joined = at_day(rng.uniform(0, days * 0.6))
        m = Member("slack", mid, name, "nl" if dutch else "en", "Europe/Amsterdam" if dutch else
                   rng.choice(["UTC", "America/New_York", "Europe/London", "Asia/Kolkata"]), joined,
                   is_staff=persona == "staff")
        members.append(m)
        roles[mid] = persona
        events.append(MemberJoined("slack", joined, member_id=mid, display_name=name, locale=m.locale,
                                   timezone=m.timezone))
    for b, bname in (("B0001BOT", "deploy-bot"), ("B0002BOT", "rss-feed")):
        members.append(Member("slack", b, bname, is_bot=True, joined_at=START))
        events.append(MemberJoined("slack", START, member_id=b, display_name=bname, is_bot=True))

    by_role: dict[str, list[Member]] = {}
    for m in members:
        by_role.setdefault(roles.get(m.member_id, "bot"), []).append(m)
    answerers = by_role["ambassador"] * 4 + by_role["helper"] * 2 + by_role["staff"]

    def post(author: Member, channel: str, text: str, at: datetime, thread: str | None = None,
             mentions: tuple[str, ...] = (), is_bot: bool = False) -> str:
        mid = ts(at)
        events.append(MessagePosted("slack", at, channel_id=CHANNELS[channel], message_id=mid,
                                    author_id=author.member_id, text=text, thread_id=thread, mentions=mentions,
                                    is_bot=is_bot, channel_name=channel))
        return mid

    # introductions from some newcomers, welcomed by ambassadors
    for m in members:
        persona = roles.get(m.member_id)
        if persona in ("asker", "chatter", "helper") and rng.random() < 0.5 and m.joined_at:
            t = m.joined_at + timedelta(hours=rng.uniform(1, 30))
            if t < end:
                root = post(m, "introductions", rng.choice(INTROS), t)
                greeter = rng.choice(by_role["ambassador"])
                post(greeter, "introductions", f"<@{m.member_id}> welcome! Glad to have you.",
                     t + timedelta(minutes=rng.uniform(5, 120)), thread=root, mentions=(m.member_id,))

    # questions: most answered (threaded or flat with a mention), some left hanging
    for m in by_role["asker"] + by_role["chatter"][:15]:
        assert m.joined_at is not None
        for _ in range(rng.randint(1, 4)):
            t = m.joined_at + timedelta(days=rng.uniform(0.2, max(0.3, (end - m.joined_at).days - 0.5)))
            if t >= end:
                continue
            nl = m.locale == "nl"
            q = post(m, "help", rng.choice(Q_NL if nl else Q_EN), t)
            fate = rng.random()
            if fate < 0.62:
                helper = rng.choice(answerers)
                ta = t + timedelta(minutes=rng.uniform(3, 240))
                if rng.random() < 0.6:
                    post(helper, "help", rng.choice(ANSWERS_NL if nl else ANSWERS), ta, thread=q)
                else:
                    post(helper, "help", f"<@{m.member_id}> " + rng.choice(ANSWERS), ta, mentions=(m.member_id,))
                if rng.random() < 0.6:
                    post(m, "help", rng.choice(THANKS), ta + timedelta(minutes=rng.uniform(2, 60)),
                         thread=q if rng.random() < 0.5 else None)
                if rng.random() < 0.5:
                    events.append(ReactionAdded("slack", ta + timedelta(minutes=5), channel_id=CHANNELS["help"],
                                                message_id=q, member_id=helper.member_id, emoji="eyes",
                                                message_author_id=m.member_id))
            elif fate < 0.7:
                bot = by_role["bot"][0]
                post(bot, "help", "Have you tried the FAQ? https://example.invalid/faq",
                     t + timedelta(minutes=1), thread=q, is_bot=True)

    # chatter and reactions (ambassadors and helpers get appreciated)
    for m in by_role["chatter"] + by_role["ambassador"] + by_role["helper"] + by_role["staff"]:
        assert m.joined_at is not None
        n = rng.randint(3, 25) if roles[m.member_id] != "chatter" else rng.randint(1, 12)
        for _ in range(n):
            t = m.joined_at + timedelta(days=rng.uniform(0, max(0.5, (end - m.joined_at).days - 0.1)))
            if t >= end:
                continue
            ch = rng.choice(["general", "random", "showcase", "general"])
            msg = post(m, ch, rng.choice(CHAT), t)
            for r in rng.sample(members[:200], rng.randint(0, 4)):
                if r.member_id != m.member_id and not r.is_bot:
                    events.append(ReactionAdded("slack", t + timedelta(minutes=rng.uniform(1, 300)),
                                                channel_id=CHANNELS[ch], message_id=msg, member_id=r.member_id,
                                                emoji=rng.choice(["tada", "+1", "heart"]),
                                                message_author_id=m.member_id))
    # bots post announcements
    for d in range(0, days, 7):
        post(by_role["bot"][1], "announcements", "New blog post: release notes", at_day(d), is_bot=True)

    # rule-breakers: a flood, a mass mention, link spam from a brand new member
    rb = by_role["rulebreaker"]
    t0 = at_day(30)
    for k in range(9):
        post(rb[0], "general", "BUY CHEAP FOLLOWERS NOW", t0 + timedelta(seconds=k))
    post(rb[1], "general", "<!channel> <!everyone> look at my stream!!!", at_day(45))
    spam_at = (rb[2].joined_at or START) + timedelta(minutes=20)
    post(rb[2], "general", "free nitro https://discord.gg/abcd https://bit.ly/x https://t.co/y", spam_at)

    # some lurkers posted once early, then went quiet
    for m in by_role["lurker"][:25]:
        if m.joined_at and m.joined_at + timedelta(days=1) < end:
            post(m, "general", "hi!", m.joined_at + timedelta(hours=2))

    events = [e for e in events if e.at < end]
    events.sort(key=lambda e: (e.at, 0 if isinstance(e, MemberJoined) else 1))
    channels = [Channel("slack", cid, name) for name, cid in CHANNELS.items()]
    return SampleCommunity(members, channels, events, roles, START, end)
