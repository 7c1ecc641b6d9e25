"""Reply structure of flat channels: a learned model of who replies to whom, and the decisions made
from it (a question answered or not, by whom, how soon, and why). Depends on ``bot.core`` only."""
