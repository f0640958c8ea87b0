"""What every generator shares: random values, JSON encoding traps and the scenario schedule.

A generator draws one event at a time. Most are benign; now and then it draws a scenario (an
attack story, a tuning false positive or a hard negative) whose lines are queued and yielded
in order; a scenario may also schedule lines to be made later in the stream (`later`). Every
line's labels are computed from its decoded values by `corpus.rules`, when the line is made,
which is in stream order, so a label set is exactly the set of rules that fire on the line.
"""

from __future__ import annotations

import json
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from heapq import heappop, heappush
from json.encoder import encode_basestring
from random import Random
from typing import TypeVar

from retrohunt.corpus.catalogue import (
    AWS_KEY_IDS,
    AWS_SECRETS,
    BOUNDARY_PUBLIC_V4,
    BOUNDARY_PUBLIC_V6,
    EXFIL_HOSTS,
    PRIVATE_V4,
    PRIVATE_V6,
    PUBLIC_FIRST_OCTETS,
    V6_PREFIXES,
    WALLET,
)
from retrohunt.corpus.rules import (
    CONTAINER_MINER_STRINGS,
    CREDENTIAL_STRINGS,
    DOWNLOADER_ENDSWITH,
    MINER_ARGS_STRINGS,
    MINER_CMDLINE_STRINGS,
    MINER_IMAGE_STRINGS,
    POOL_DOMAIN_STRINGS,
    POOL_PORTS,
    RUNTIME_CONTAINS,
    RUNTIME_ENDSWITH,
    RUNTIME_NAMES,
    Labels,
    fold,
)

Obj = dict[str, object]
Line = tuple[str, Labels]
Scenario = Callable[[], list[Line]]

BASE_MS = 1_794_873_600_000  # 2026-11-17T00:00:00Z

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
encode = _ENCODER.encode

# Where a trap hides a character: inside an indicator when the value holds one.
_NEEDLES = tuple(
    sorted(
        {
            fold(s)
            for s in (
                *MINER_IMAGE_STRINGS,
                *MINER_CMDLINE_STRINGS,
                *MINER_ARGS_STRINGS,
                *CONTAINER_MINER_STRINGS,
                *CREDENTIAL_STRINGS,
                *RUNTIME_CONTAINS,
                *RUNTIME_ENDSWITH,
                *RUNTIME_NAMES,
                *DOWNLOADER_ENDSWITH,
                *POOL_DOMAIN_STRINGS,
            )
        },
        key=lambda needle: (-len(needle), needle),  # longest first; no set order
    )
)


@dataclass(frozen=True, slots=True)
class LabelledLine:
    """One NDJSON line (no trailing newline) and the sorted names of the rules that alert on it."""

    data: bytes
    rules: tuple[str, ...]


P = TypeVar("P")  # a source's process record


class Generator:
    """Random values, traps and the schedule; subclasses supply events and scenarios."""

    # Average labelled lines of an attack and of a false-positive scenario, and average lines
    # of a hard-negative one (measured on large corpora), so that `malicious_rate` is the share
    # of labelled lines: attacks give ATTACK_SHARE of it, false positives the rest.
    attack_lines = 2.0
    false_positive_lines = 1.0
    hard_lines = 1.3
    ATTACK_SHARE = 0.75
    # Rule-tested fields an encoding trap may rewrite.
    trap_fields: tuple[str, ...] = ()

    def __init__(self, seed: int | str, malicious_rate: float) -> None:
        if not 0.0 <= malicious_rate <= 0.5:
            raise ValueError(f"malicious_rate must be within [0, 0.5], got {malicious_rate!r}")
        self.rng = Random(seed)
        self.random = self.rng.random
        self.bits = self.rng.getrandbits
        self.clock = BASE_MS + self.bits(24)
        self.malicious_rate = malicious_rate
        self.pending: list[Line] = []
        self.benign_fns: list[Callable[[], Line]] = []
        self.benign_cum: list[float] = []
        self.benign_total = 0.0
        self.attacks: list[Scenario] = []
        self.false_positives: list[Scenario] = []
        self.hard: list[Scenario] = []
        self.p_attack = self.p_false_positive = self.p_scenario = 0.0
        # Lines a scenario scheduled for later: (stream position, order of scheduling, maker).
        self.deferred: list[tuple[int, int, Scenario]] = []
        self.position = 0  # the stream position of the line being made, when a scenario runs
        self.n_deferred = 0

    def schedule(
        self,
        benign: Sequence[tuple[float, Callable[[], Line]]],
        attacks: list[Scenario],
        false_positives: list[Scenario],
        hard: list[Scenario],
    ) -> None:
        self.benign_fns = [fn for _, fn in benign]
        acc = 0.0
        self.benign_cum = []
        for weight, _ in benign:
            acc += weight
            self.benign_cum.append(acc)
        self.benign_total = acc
        self.attacks, self.false_positives, self.hard = attacks, false_positives, hard
        rate = self.malicious_rate
        self.p_attack = rate * self.ATTACK_SHARE / self.attack_lines
        self.p_false_positive = (
            self.p_attack + rate * (1 - self.ATTACK_SHARE) / self.false_positive_lines
        )
        self.p_scenario = self.p_false_positive + rate / self.hard_lines

    # -- the stream --------------------------------------------------------------------------

    def lines(self, n_events: int) -> Iterator[Line]:
        random = self.random
        pending = self.pending
        cum, fns, total = self.benign_cum, self.benign_fns, self.benign_total
        p_attack, p_fp, p_scenario = self.p_attack, self.p_false_positive, self.p_scenario
        deferred = self.deferred
        for i in range(n_events):
            if pending:
                yield pending.pop()
                continue
            if deferred and deferred[0][0] <= i:
                self.position = i
                batch = heappop(deferred)[2]()
                batch.reverse()
                pending.extend(batch)
                yield pending.pop()
                continue
            u = random()
            if u < p_scenario:
                self.position = i
                if u < p_attack:
                    scenarios = self.attacks
                elif u < p_fp:
                    scenarios = self.false_positives
                else:
                    scenarios = self.hard
                batch = scenarios[int(random() * len(scenarios))]()
                batch.reverse()
                pending.extend(batch)
                yield pending.pop()
                continue
            yield fns[bisect(cum, random() * total)]()

    def later(self, delay: int, make: Scenario) -> None:
        """Makes `make`'s lines at least `delay` lines after the current one (once no scenario
        line is pending), so that they are labelled in stream order. Lines still scheduled when
        the stream ends are never made."""
        self.n_deferred += 1
        heappush(self.deferred, (self.position + max(delay, 1), self.n_deferred, make))

    # -- labels and traps --------------------------------------------------------------------

    def labels(self, obj: Obj) -> Labels:
        raise NotImplementedError

    def emit(self, obj: Obj, trap: float = 0.0) -> Line:
        """Encodes an event with its labels; labelled lines get an encoding trap 60% of the
        time, others with probability `trap`."""
        labels = self.labels(obj)
        raw = encode(obj)
        if (labels or trap) and self.random() < (0.6 if labels else trap):
            raw = self.trapped(raw, obj)
        return raw, labels

    def trapped(self, raw: str, obj: Obj) -> str:
        """Rewrites one rule-tested field so the JSON differs but decodes to the same value:
        `\\/` for slashes, or one character as `\\uXXXX` (in an indicator when it has one),
        or the field's key with an escaped letter."""
        fields = [f for f in self.trap_fields if isinstance(obj.get(f), str) and obj[f]]
        if not fields:
            return raw
        if "CommandLine" in fields and self.random() < 0.4:
            name = "CommandLine"  # where most indicators are
        else:
            name = fields[int(self.random() * len(fields))]
        value = str(obj[name])
        enc = encode_basestring(value)
        r = self.random()
        if r < 0.3 and "/" in value:
            new_raw = _replace_field(raw, name, enc, enc.replace("/", "\\/"))
        elif r < 0.4:
            i = int(self.random() * len(name))
            key = f"{name[:i]}\\u{ord(name[i]):04x}{name[i + 1 :]}"
            new_raw = raw.replace(f'"{name}":{enc}', f'"{key}":{enc}', 1)
        else:
            low = fold(value)
            start, width = 0, len(value)
            for needle in _NEEDLES:
                k = low.find(needle)
                if k >= 0:
                    start, width = k, len(needle)
                    break
            i = start + int(self.random() * width)
            if ord(value[i]) > 0xFFFF:
                return raw
            esc = f"\\u{ord(value[i]):04x}"
            if self.random() < 0.3:
                esc = "\\u" + esc[2:].upper()
            new = encode_basestring(value[:i])[:-1] + esc + encode_basestring(value[i + 1 :])[1:]
            new_raw = _replace_field(raw, name, enc, new)
        if json.loads(new_raw) != obj:  # an invariant: a trap must not change the value
            raise RuntimeError(f"corpus trap changed the decoded value: {new_raw[:200]}")
        return new_raw

    # -- random values -----------------------------------------------------------------------

    def pick(self, seq: Sequence[str]) -> str:
        return seq[int(self.random() * len(seq))]

    def remember(self, procs: list[P], proc: P, keep: int = 48) -> None:
        """Keep a host's recent processes (for later links), replacing a random one when full."""
        if len(procs) < keep:
            procs.append(proc)
        else:
            procs[int(self.random() * keep)] = proc

    def hex(self, nbits: int) -> str:
        return f"{self.bits(nbits):0{nbits // 4}x}"

    def uuid(self) -> str:
        h = f"{self.bits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[self.bits(2)]}{h[17:20]}-{h[20:]}"

    def public4(self) -> str:
        first = PUBLIC_FIRST_OCTETS[int(self.random() * len(PUBLIC_FIRST_OCTETS))]
        b = self.bits(24)
        return f"{first}.{b >> 16}.{(b >> 8) & 255}.{1 + (b & 255) % 254}"

    def public6(self) -> str:
        p = self.pick(V6_PREFIXES)
        groups = ":".join(f"{self.bits(16):x}" for _ in range(7 - p.count(":")))
        return p + groups

    def private4(self) -> str:
        t = self.pick(PRIVATE_V4)
        b = self.bits(24)
        return t.format(a=b >> 16, b=(b >> 8) & 255, c=1 + (b & 255) % 254, p=16 + self.bits(4))

    def private6(self) -> str:
        return self.pick(PRIVATE_V6).replace("{h}", f"{1 + self.bits(15):x}")

    def pool_remote(self, v6: bool) -> str:
        if v6:
            return self.public6() if self.random() < 0.8 else self.pick(BOUNDARY_PUBLIC_V6)
        return self.public4() if self.random() < 0.85 else self.pick(BOUNDARY_PUBLIC_V4)

    def pool_port(self, as_number: float = 0.3) -> str | int:
        port = POOL_PORTS[int(self.random() * len(POOL_PORTS))]
        return port if self.random() < as_number else str(port)

    def fill(self, template: str, user: str, container: str) -> str:
        """Fills a catalogue template: {U} user, {N} number, {C} container id, {W} wallet,
        {K} / {S} / {T} AWS key id / secret / session token, {H} exfiltration host."""
        if "{" not in template:
            return template
        out = template.replace("{U}", user).replace("{N}", str(self.bits(12)))
        out = out.replace("{C}", container).replace("{W}", WALLET)
        if "{K}" in out or "{S}" in out or "{T}" in out or "{H}" in out:
            token = "IQoJb3JpZ2luX2VjE" + self.hex(64) + "EXAMPLETOKEN"
            out = out.replace("{K}", self.pick(AWS_KEY_IDS)).replace("{S}", self.pick(AWS_SECRETS))
            out = out.replace("{T}", token).replace("{H}", self.pick(EXFIL_HOSTS))
        return out

    def case_variant(self, s: str, indicators: Sequence[str] = ()) -> str:
        """Sometimes changes the letter case of s, or only of the indicators found in it."""
        r = self.random()
        if r < 0.7:
            return s
        if indicators:
            low = s.lower()
            for needle in indicators:
                i = low.find(needle)
                if i >= 0:
                    s = (
                        s[:i]
                        + self.case_variant_word(s[i : i + len(needle)], r)
                        + s[i + len(needle) :]
                    )
            return s
        return self.case_variant_word(s, r)

    def case_variant_word(self, s: str, r: float) -> str:
        if r < 0.85:
            return s.upper()
        return "".join(c.upper() if self.bits(1) else c.lower() for c in s)


def basename(image: str) -> str:
    return image.rsplit("\\", 1)[-1].rsplit("/", 1)[-1]


def _replace_field(raw: str, fld: str, enc: str, new: str) -> str:
    key = f'"{fld}":{enc}'
    if key not in raw:
        raise RuntimeError(f"corpus trap: field {fld} not found in {raw[:200]}")
    return raw.replace(key, f'"{fld}":{new}', 1)
