"""Redis limits: exact across any number of processes and hosts.

Each ``take`` is one EVALSHA of one Lua script, so the check of every window
and the increments happen in one atomic step on the server: no
read-then-write race, one round trip per datapoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from winnow.activelearning.limits.base import (
    BATCH_REFUSAL,
    BATCH_TTL_SECONDS,
    BatchCap,
    Budget,
    Credit,
    TakeOutcome,
    TakeResult,
    epoch_seconds,
)
from winnow.activelearning.limits.keys import batch_key, window_keys
from winnow.errors import ConfigurationError, ServiceUnavailableError

if TYPE_CHECKING:
    import redis as redis_lib

# A window's key outlives the window by this much, so a credit handed back
# shortly after the window ended still finds its key (and so that hosts with
# slightly skewed clocks do not lose counts at the boundary).
KEY_MARGIN_SECONDS = 60

# take: walk the candidates in order; the first whose every window is below
# its limit pays (its window keys are INCRed) and takes one batch place.
# A candidate's windows are its own and then its per-source ones (the keys of
# the take's source): to the script they are all just windows.
# KEYS[1]      batch counter key (winnow:batch:...); a placeholder when ARGV[1] == -2
# KEYS[2..]    window counter keys of every candidate, candidate 1's first, in the
#              order of ARGV's (limit, expiry) pairs
# ARGV[1]      batch cap: -2 no batch (nothing counted), -1 uncapped (counted), n >= 0 cap
# ARGV[2]      batch key expiry in seconds (refreshed on every place taken)
# ARGV[3..]    per candidate: n = its number of windows, then n pairs (limit, key expiry s)
# Returns {paid, refused}: paid is -1 when the batch is full (nothing changed), 0
# when no candidate has room (nothing changed), else the 1-based index of the
# candidate that paid; refused is the 1-based index of candidate 1's first full
# window (0 when it had room or there was none).
TAKE_LUA = """
local cap = tonumber(ARGV[1])
if cap >= 0 then
  local used = tonumber(redis.call('GET', KEYS[1]) or '0')
  if used >= cap then return {-1, 0} end
end
local a = 3
local k = 2
local candidate = 0
local refused = 0
while a <= #ARGV do
  candidate = candidate + 1
  local n = tonumber(ARGV[a])
  local room = true
  for i = 0, n - 1 do
    local used = tonumber(redis.call('GET', KEYS[k + i]) or '0')
    if used >= tonumber(ARGV[a + 1 + 2 * i]) then
      room = false
      if candidate == 1 then refused = i + 1 end
      break
    end
  end
  if room then
    for i = 0, n - 1 do
      if redis.call('INCR', KEYS[k + i]) == 1 then
        redis.call('EXPIRE', KEYS[k + i], ARGV[a + 2 + 2 * i])
      end
    end
    if cap ~= -2 then
      redis.call('INCR', KEYS[1])
      redis.call('EXPIRE', KEYS[1], ARGV[2])
    end
    return {candidate, refused}
  end
  a = a + 1 + 2 * n
  k = k + n
end
return {0, refused}
"""

# give_back: decrement each key that still exists and is above zero; a key
# that has expired (its window is long over) is left absent, never recreated.
# KEYS[1..]    the credit's window keys, then its batch key if it had a batch
# ARGV         none
# Returns the number of keys decremented.
GIVE_BACK_LUA = """
local done = 0
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used > 0 then
    redis.call('DECR', KEYS[i])
    done = done + 1
  end
end
return done
"""

# learn_batch: raise the batch counter to ARGV[1] when it is lower (never lower it).
# KEYS[1] batch counter key; ARGV[1] images the platform holds; ARGV[2] expiry s.
LEARN_BATCH_LUA = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local images = tonumber(ARGV[1])
if images > used then
  redis.call('SET', KEYS[1], images, 'EX', ARGV[2])
  return 1
end
return 0
"""


class RedisLimits:
    """Limits in Redis, shared by every process connected to the same database.

    Key layout (components percent-escaped for ``%`` and ``:``; see ``keys``):

    - ``winnow:limit:{scope}:{strategy}:{window}:{window_start_epoch}`` - the
      number of credits a strategy took in one UTC window; expires after the
      window length + ``KEY_MARGIN_SECONDS``.
    - ``winnow:limit:{scope}:{strategy}:{window}:{window_start_epoch}:{source}``
      - the same for one source of a per-source window.
    - ``winnow:batch:{scope}:{batch_name}`` - places taken in a batch; the
      expiry (``BATCH_TTL_SECONDS``) is refreshed on every place taken.

    Window starts come from the ``now`` the caller passes (its clock), so
    hosts sharing limits should keep their clocks in sync (NTP). Connection
    failures raise ``ServiceUnavailableError``; nothing is taken then.
    """

    def __init__(self, url: str, *, socket_timeout: float = 2.0, prefix: str = "winnow") -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigurationError(
                "the redis:// limits backend needs the redis package: pip install 'winnow[redis]'"
            ) from exc
        self._errors: tuple[type[Exception], ...] = (redis.exceptions.RedisError,)
        try:
            self._client: redis_lib.Redis[bytes] = redis.Redis.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
        except ValueError as exc:
            raise ConfigurationError(f"invalid limits URL {url!r}: {exc}") from exc
        self._prefix = prefix
        self._take = self._client.register_script(TAKE_LUA)
        self._give_back = self._client.register_script(GIVE_BACK_LUA)
        self._learn_batch = self._client.register_script(LEARN_BATCH_LUA)

    def take(
        self,
        candidates: Sequence[Budget],
        batch: BatchCap | None,
        now: datetime,
        source: str | None = None,
    ) -> TakeResult:
        """Take a credit from the first candidate with room, and a batch place, atomically.

        One round trip, per-source windows included. A full batch returns
        ``BATCH_FULL`` and consumes nothing; a candidate without limits
        always has room.
        """
        epoch = epoch_seconds(now)
        if batch is None:
            keys: list[str] = [""]
            args: list[Any] = [-2, BATCH_TTL_SECONDS]
        else:
            keys = [batch_key(self._prefix, batch)]
            cap = -1 if batch.max_images is None else max(batch.max_images, 0)
            args = [cap, BATCH_TTL_SECONDS]
        for budget in candidates:
            windows = window_keys(self._prefix, budget, epoch, source)
            args.append(len(windows))
            for key, value, length in windows:
                keys.append(key)
                args.append(value)
                args.append(length + KEY_MARGIN_SECONDS)
        paid, refused = (int(n) for n in self._run(self._take, keys, args))
        if paid == -1:
            return TakeResult(TakeOutcome.BATCH_FULL, None, BATCH_REFUSAL)
        if paid == 0:
            limited_by = candidates[0].refusals[refused - 1] if refused > 0 else None
            return TakeResult(TakeOutcome.STRATEGY_LIMITED, None, limited_by)
        budget = candidates[paid - 1]
        return TakeResult(TakeOutcome.TAKEN, Credit(budget.strategy, budget, batch, now, source))

    def give_back(self, credit: Credit) -> None:
        """Return a credit: decrement the windows of ``credit.taken_at`` and its batch place.

        Keys that expired since are left absent; counts never go below zero.
        """
        epoch = epoch_seconds(credit.taken_at)
        keys = [key for key, _, _ in window_keys(self._prefix, credit.budget, epoch, credit.source)]
        if credit.batch is not None:
            keys.append(batch_key(self._prefix, credit.batch))
        if keys:
            self._run(self._give_back, keys, [])

    def learn_batch(self, batch: BatchCap, images: int, now: datetime) -> None:
        """Raise the batch's count to ``images`` when it holds fewer, atomically; never lower it."""
        epoch_seconds(now)  # same contract as take: an aware datetime
        self._run(
            self._learn_batch,
            [batch_key(self._prefix, batch)],
            [max(0, images), BATCH_TTL_SECONDS],
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a registered script (EVALSHA, loading it once if the server lost it)."""
        try:
            return script(keys=keys, args=args)
        except self._errors as exc:
            raise ServiceUnavailableError(
                f"limits backend unavailable ({type(exc).__name__}: {exc})"
            ) from exc
