"""`cxm import`: stream feedback from CSV, JSON Lines or a JSON array into the public batch API, safely rerunnable.

Every row without an external id of its own gets `import:<file digest>:<line>`, so the API's deduplication on
`(source, external_id)` makes a rerun store nothing twice; a small checkpoint only lets a rerun skip ahead.
"""

from __future__ import annotations

import csv
import email.utils
import hashlib
import io
import os
import random
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import orjson

from cxm_cli.state import data_dir

# The API's channels and limits, repeated here because the CLI imports no service.
CHANNELS = ("survey", "ticket", "chat", "email", "sms", "review", "social", "call", "in_app", "web", "other")
SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
MAX_TEXT = 20_000
MAX_METADATA_KEYS = 64
MAX_BATCH = 1000
MAX_CONCURRENCY = 16
MAX_BODY_BYTES = 8 * 1024 * 1024  # below the gateway's 10 MiB default for batch routes
FIRST_REASONS = 20
SOURCE_RE = re.compile(r"^[a-z0-9_.-]+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[\d\s().-]{4,}$")
FORMATS = ("csv", "jsonl", "json")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}

FIELDS = (
    "text", "channel", "source", "external_id", "customer.id", "customer.email", "customer.name", "customer.phone",
    "scores.nps", "scores.csat", "scores.ces", "touchpoint", "occurred_at", "metadata",
)  # fmt: skip
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "channel": ("channel",),
    "source": ("source",),
    "external_id": ("external_id",),
    "customer.id": ("customer.id", "customer_id"),
    "customer.email": ("customer.email", "customer_email", "email"),
    "customer.name": ("customer.name", "customer_name"),
    "customer.phone": ("customer.phone", "customer_phone", "phone"),
    "scores.nps": ("scores.nps", "nps"),
    "scores.csat": ("scores.csat", "csat"),
    "scores.ces": ("scores.ces", "ces"),
    "touchpoint": ("touchpoint",),
    "occurred_at": ("occurred_at",),
    "metadata": ("metadata",),
}


class ImportFailed(Exception):
    """A fatal error: the import stopped (what was confirmed stays confirmed, and a rerun resumes)."""

    def __init__(self, message: str, summary: Summary | None = None) -> None:
        super().__init__(message)
        self.summary = summary


class RowError(Exception):
    """One row cannot be sent; the message says why."""


@dataclass
class Options:
    """How to read the file and what to fill in."""

    format: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    channel: str = "survey"
    source: str = "import"
    tz: str = "UTC"
    batch_size: int = MAX_BATCH
    concurrency: int = 2
    checkpoint: Path | None = None
    resume: bool = True
    errors_file: Path | None = None
    max_tries: int = 8
    timeout_s: float = 60.0


@dataclass
class Rejection:
    """A row that was not stored, and why."""

    line: int
    reason: str


@dataclass
class Summary:
    """What one run did."""

    file: str
    format: str
    rows: int = 0
    skipped: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    first_rejections: list[Rejection] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    rows_per_s: float = 0.0
    checkpoint: str | None = None
    errors_file: str | None = None
    complete: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return asdict(self)


@dataclass(slots=True)
class SourceRow:
    """One record of the input: its line, its values (None when unreadable) and what to write back if refused."""

    line: int
    values: dict[str, Any] | None
    raw: Any
    problem: str | None = None


@dataclass(slots=True)
class Pending:
    """A converted row waiting in a batch."""

    row: SourceRow
    body: bytes


@dataclass
class Sent:
    """What the server made of one batch."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: list[tuple[SourceRow, str]] = field(default_factory=list)


def parse_mapping(pairs: tuple[str, ...] | list[str], mapping_file: Path | None = None) -> dict[str, str]:
    """Merge `--mapping FILE` (a JSON object field → column) and `--map field=column` pairs (which win)."""
    mapping: dict[str, str] = {}
    if mapping_file is not None:
        try:
            loaded = orjson.loads(mapping_file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ValueError(f"cannot read the mapping file {mapping_file}: {exc}") from exc
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise ValueError(f"the mapping file {mapping_file} must hold a JSON object of field → column name")
        mapping.update(loaded)
    for pair in pairs:
        name, sep, column = pair.partition("=")
        if not sep:
            raise ValueError(f"--map takes FIELD=COLUMN, not {pair!r}")
        mapping[name.strip()] = column.strip()
    for name in mapping:
        if name not in FIELDS and not (name.startswith("metadata.") and len(name) > len("metadata.")):
            raise ValueError(f"unknown field {name!r}: use one of {', '.join(FIELDS)} or metadata.<name>")
    return mapping


def detect_format(path: Path, given: str | None) -> str:
    """The input format: `--format`, else the file's extension."""
    if given:
        return given
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise ValueError(f"cannot tell the format of {path.name} from its extension: pass --format csv|jsonl|json")
    return found


def file_digest(path: Path) -> str:
    """Identifies the file's whole content, so an edited file never reuses another's row ids."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:32]


def default_checkpoint(digest: str) -> Path:
    """Where a file's checkpoint lives by default: `<data dir>/imports/<digest>.json`."""
    return data_dir() / "imports" / f"{digest}.json"


class Columns:
    """Which columns feed which field: explicit mapping first, then columns named like the field."""

    def __init__(self, mapping: dict[str, str], header: list[str] | None) -> None:
        candidates: dict[str, tuple[str, ...]] = {}
        for name in [*FIELDS, *(m for m in mapping if m.startswith("metadata."))]:
            if name in mapping:
                candidates[name] = (mapping[name],) if mapping[name] else ()
            else:
                candidates[name] = DEFAULT_COLUMNS.get(name, ())
        self.ignored: list[str] = []
        if header is not None:
            candidates = self._for_header(candidates, mapping, header)
        self.fields = {name: columns for name, columns in candidates.items() if columns}

    def _for_header(
        self, candidates: dict[str, tuple[str, ...]], mapping: dict[str, str], header: list[str]
    ) -> dict[str, tuple[str, ...]]:
        # Default names match a header loosely ("Customer ID" is customer_id); explicit ones exactly.
        loose = {_loose(h): h for h in reversed(header)}
        resolved: dict[str, tuple[str, ...]] = {}
        for name, columns in candidates.items():
            if name in mapping:
                missing = [c for c in columns if c not in header]
                if missing:
                    raise ValueError(f"column {missing[0]!r} (mapped to {name}) is not in the header: {header}")
                resolved[name] = columns
            else:
                found = next((loose[_loose(c)] for c in columns if _loose(c) in loose), None)
                resolved[name] = (found,) if found else ()
        used = {c for columns in resolved.values() for c in columns}
        self.ignored = [h for h in header if h not in used]
        return resolved

    def value(self, row: dict[str, Any], name: str) -> Any:
        """The row's value for a field, or None when it is absent or blank."""
        for column in self.fields.get(name, ()):
            value = row.get(column)
            if value is None and "." in column and column not in row:
                value = _dig(row, column)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            return value
        return None


class Converter:
    """Turns an input row into an API feedback item, or says why it cannot be one."""

    def __init__(self, columns: Columns, *, channel: str, source: str, zone: tzinfo, digest: str) -> None:
        self.columns = columns
        self.channel = channel
        self.source = source
        self.zone = zone
        self.digest = digest
        self.latest = datetime.now(UTC) + timedelta(days=1)
        self.metadata_fields = [(n, n[len("metadata.") :]) for n in columns.fields if n.startswith("metadata.")]

    def convert(self, row: dict[str, Any], line: int) -> dict[str, Any]:
        """The feedback item for one row (raises RowError)."""
        get = self.columns.value
        source = _text(get(row, "source"), "source", 64)
        source = source.strip() if source is not None else self.source
        if not SOURCE_RE.match(source):
            raise RowError(f"source {source!r} may only hold a-z, 0-9, '_', '.' and '-'")
        channel = _text(get(row, "channel"), "channel", 32)
        channel = channel.strip().lower() if channel is not None else self.channel
        if channel not in CHANNELS:
            raise RowError(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
        external_id = _text(get(row, "external_id"), "external_id", 256)
        item: dict[str, Any] = {
            "channel": channel,
            "source": source,
            "external_id": external_id.strip() if external_id is not None else f"import:{self.digest}:{line}",
        }
        text = _text(get(row, "text"), "text", MAX_TEXT)
        if text is not None:
            item["text"] = text
        scores: dict[str, int] = {}
        for name, (low, high) in SCORE_RANGES.items():
            score = _score(get(row, f"scores.{name}"), name, low, high)
            if score is not None:
                scores[name] = score
        if scores:
            item["scores"] = scores
        if text is None and not scores:
            raise RowError("needs text or at least one score (nps, csat, ces)")
        customer = self._customer(row)
        if customer:
            item["customer"] = customer
        touchpoint = _text(get(row, "touchpoint"), "touchpoint", 128)
        if touchpoint is not None:
            item["touchpoint"] = touchpoint.strip()
        occurred = get(row, "occurred_at")
        if occurred is not None:
            item["occurred_at"] = self._time(occurred)
        metadata = self._metadata(row)
        if metadata:
            item["metadata"] = metadata
        return item

    def _customer(self, row: dict[str, Any]) -> dict[str, str]:
        get = self.columns.value
        customer: dict[str, str] = {}
        for name, limit in (("id", 256), ("email", 320), ("name", 300), ("phone", 40)):
            value = _text(get(row, f"customer.{name}"), f"customer.{name}", limit)
            if value is not None:
                customer[name] = value.strip()
        if "email" in customer and not EMAIL_RE.match(customer["email"]):
            raise RowError(f"customer.email {customer['email']!r} is not an email address")
        if "phone" in customer and not PHONE_RE.match(customer["phone"]):
            raise RowError(f"customer.phone {customer['phone']!r} is not a phone number")
        if customer and "id" not in customer:
            # The API names a customer by the tenant's id; an email (else a phone) is a key it resolves as well.
            stand_in = customer.get("email") or customer.get("phone")
            if stand_in is None:
                raise RowError("customer.name needs customer.id, customer.email or customer.phone")
            customer["id"] = stand_in
        return customer

    def _time(self, value: Any) -> str:
        if not isinstance(value, str):
            raise RowError(f"occurred_at {value!r} is not an ISO 8601 time")
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise RowError(f"occurred_at {value!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        if moment.year < 1970:
            raise RowError(f"occurred_at {value!r} is before 1970")
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise RowError(f"occurred_at {value!r} is out of range") from None
        if moment > self.latest:
            raise RowError(f"occurred_at {value!r} is more than a day in the future")
        return moment.isoformat()

    def _metadata(self, row: dict[str, Any]) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        whole = self.columns.value(row, "metadata")
        if isinstance(whole, str):
            try:
                whole = orjson.loads(whole)
            except orjson.JSONDecodeError:
                raise RowError("metadata is not a JSON object") from None
        if whole is not None:
            if not isinstance(whole, dict):
                raise RowError("metadata is not a JSON object")
            metadata.update(whole)
        for name, key in self.metadata_fields:
            value = self.columns.value(row, name)
            if value is not None:
                if isinstance(value, str) and "\x00" in value:
                    raise RowError(f"{name} holds a NUL character")
                metadata[key] = value
        if len(metadata) > MAX_METADATA_KEYS:
            raise RowError(f"metadata has {len(metadata)} keys; at most {MAX_METADATA_KEYS} are allowed")
        return metadata


class Reader:
    """Reads input records one by one, counting bytes for the progress line."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.format = fmt
        self.size = path.stat().st_size
        self.header: list[str] | None = None
        self._file = path.open("rb")
        self._counter = _Counting(self._file)
        self._done = 0
        self._total = 0
        self._csv: Any = None
        if fmt == "csv":
            try:
                self.header = self._read_header()
            except ValueError:
                self._file.close()
                raise

    def _read_header(self) -> list[str]:
        # A cell longer than csv's default 128 KiB limit should be one rejected row, not a fatal csv.Error.
        csv.field_size_limit(max(csv.field_size_limit(), MAX_BODY_BYTES))
        text = io.TextIOWrapper(io.BufferedReader(self._counter), encoding="utf-8-sig", newline="")
        self._csv = csv.reader(text)
        try:
            cells = next(self._csv, None)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ValueError(f"{self.path.name}: cannot read the header row: {exc}") from exc
        header = [h.strip() for h in cells] if cells else []
        repeated = {h for h in header if header.count(h) > 1}
        if repeated:
            raise ValueError(f"{self.path.name}: the header names {sorted(repeated)} more than once")
        return header

    def fraction(self) -> float:
        """How much of the file has been read, 0 to 1."""
        if self.format == "json":
            return self._done / self._total if self._total else 1.0
        return min(1.0, self._counter.count / self.size) if self.size else 1.0

    def rows(self) -> Iterator[SourceRow]:
        """Every record, with the line it starts on (for a JSON array: the item's position)."""
        if self.format == "csv":
            return self._csv_rows()
        if self.format == "jsonl":
            return self._jsonl_rows()
        return self._json_rows()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def _csv_rows(self) -> Iterator[SourceRow]:
        assert self.header is not None
        header = self.header
        reader = self._csv
        line = reader.line_num + 1
        while True:
            start = line
            try:
                cells = next(reader, None)
            except UnicodeDecodeError as exc:
                raise ValueError(f"{self.path.name}: not UTF-8 after line {start}: {exc}") from exc
            except csv.Error as exc:
                raise ValueError(f"{self.path.name}: line {start}: {exc}") from exc
            if cells is None:
                return
            line = reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(header):
                yield SourceRow(start, None, cells, f"{len(cells)} cells but the header has {len(header)}")
            else:
                yield SourceRow(start, dict(zip(header, cells, strict=False)), cells)

    def _jsonl_rows(self) -> Iterator[SourceRow]:
        stream = io.BufferedReader(self._counter)
        for number, data in enumerate(stream, start=1):
            if number == 1 and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            if not data.strip():
                continue
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                yield SourceRow(number, None, data.decode("utf-8", "replace").rstrip("\r\n"), f"not JSON: {exc}")
                continue
            if not isinstance(value, dict):
                yield SourceRow(number, None, value, "not a JSON object")
                continue
            yield SourceRow(number, value, value)

    def _json_rows(self) -> Iterator[SourceRow]:
        try:
            data = orjson.loads(self._file.read())
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{self.path.name} is not valid JSON: {exc}") from exc
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            data = data["items"]
        if not isinstance(data, list):
            raise ValueError(f'{self.path.name} must hold a JSON array of objects (or {{"items": [...]}})')
        self._total = len(data)
        for index, value in enumerate(data):
            self._done = index + 1
            if isinstance(value, dict):
                yield SourceRow(index + 1, value, value)
            else:
                yield SourceRow(index + 1, None, value, "not a JSON object")


class Checkpoint:
    """How many rows of a file earlier runs confirmed; only a shortcut, since the server deduplicates anyway."""

    def __init__(self, path: Path, digest: str, settings: dict[str, Any]) -> None:
        self.path = path
        self.digest = digest
        self.settings = settings
        self.failed = False

    def load(self) -> int:
        """Rows confirmed by an earlier run with the same file and settings (0 if none)."""
        try:
            saved = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return 0
        if not isinstance(saved, dict) or saved.get("digest") != self.digest or saved.get("settings") != self.settings:
            return 0
        rows = saved.get("rows")
        return rows if isinstance(rows, int) and rows > 0 else 0

    def save(self, rows: int, line: int, file: Path, complete: bool) -> None:
        """Record `rows` as confirmed (atomically; a failure to write only costs a slower rerun)."""
        data = {
            "file": str(file),
            "digest": self.digest,
            "settings": self.settings,
            "rows": rows,
            "line": line,
            "complete": complete,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
            os.replace(temporary, self.path)
        except OSError as exc:
            if not self.failed:
                print(f"warning: cannot write the checkpoint {self.path}: {exc}", file=sys.stderr)
            self.failed = True


class ErrorsFile:
    """Rejected rows as CSV: line, reason, then the row (its original cells for a CSV input)."""

    def __init__(self, path: Path, header: list[str] | None, append: bool) -> None:
        self.path = path
        self.header = header
        existing = append and path.exists() and path.stat().st_size > 0
        self._file: TextIO = path.open("a" if existing else "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if not existing:
            self._writer.writerow(["line", "reason", *(header if header is not None else ["row"])])

    def write(self, row: SourceRow, reason: str) -> None:
        """Write one rejected row."""
        if self.header is not None and isinstance(row.raw, list):
            self._writer.writerow([row.line, reason, *row.raw])
        else:
            raw = row.raw if isinstance(row.raw, str) else orjson.dumps(row.raw, default=str).decode()
            self._writer.writerow([row.line, reason, raw])

    def flush(self) -> None:
        """Flush to disk (before the checkpoint moves past these rows)."""
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class Progress:
    """Progress on stderr: a `\\r` line on a terminal, a plain line every 10 s otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = 0.2 if self.tty else 10.0
        self.last = 0.0
        self.started = time.monotonic()

    def update(self, summary: Summary, fraction: float, force: bool = False) -> None:
        """Show where the import is, at most every so often."""
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        done = summary.rows - summary.skipped
        rate = done / (now - self.started) if now > self.started else 0.0
        line = (
            f"{fraction * 100:5.1f}%  {summary.rows} rows  {summary.accepted} accepted  "
            f"{summary.duplicates} duplicates  {summary.rejected} rejected  {rate:,.0f} rows/s"
        )
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        """End the progress line."""
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


class Importer:
    """One run over one file: read, convert, batch, send, checkpoint."""

    def __init__(
        self,
        path: Path,
        *,
        gateway: str,
        api_key: str,
        options: Options,
        progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not gateway.startswith(("http://", "https://")):
            raise ValueError(f"the gateway URL must start with http:// or https://, not {gateway!r}")
        if not SOURCE_RE.match(options.source) or len(options.source) > 64:
            raise ValueError(f"--source {options.source!r} may only hold a-z, 0-9, '_', '.' and '-' (64 at most)")
        if options.channel not in CHANNELS:
            raise ValueError(f"--channel {options.channel!r} is not one of {', '.join(CHANNELS)}")
        if not 1 <= options.batch_size <= MAX_BATCH:
            raise ValueError(f"--batch-size must be 1 to {MAX_BATCH}")
        if not 1 <= options.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"--concurrency must be 1 to {MAX_CONCURRENCY}")
        try:
            self.zone = ZoneInfo(options.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {options.tz!r} (use an IANA name such as Europe/Paris)") from None
        self.path = path.absolute()
        self.options = options
        self.format = detect_format(path, options.format)
        self.gateway = gateway.rstrip("/")
        self.progress = progress
        self.sleep = sleep
        self.digest = file_digest(self.path)
        settings = {
            "format": self.format,
            "mapping": dict(sorted(options.mapping.items())),
            "channel": options.channel,
            "source": options.source,
            "tz": options.tz,
        }
        self.checkpoint = Checkpoint(options.checkpoint or default_checkpoint(self.digest), self.digest, settings)
        self.summary = Summary(file=str(self.path), format=self.format, checkpoint=str(self.checkpoint.path))
        self.client = httpx.Client(
            base_url=self.gateway,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            timeout=httpx.Timeout(options.timeout_s, connect=5.0),
        )
        self.errors: ErrorsFile | None = None

    def run(self) -> Summary:
        """Import the whole file; raises ImportFailed on a fatal error (the summary so far rides along)."""
        started = time.monotonic()
        skip = self.checkpoint.load() if self.options.resume else 0
        reader: Reader | None = None
        try:
            reader = Reader(self.path, self.format)
            columns = Columns(self.options.mapping, reader.header)
            self.summary.ignored_columns = columns.ignored
            converter = Converter(
                columns, channel=self.options.channel, source=self.options.source, zone=self.zone, digest=self.digest
            )
            if self.options.errors_file is not None:
                self.errors = ErrorsFile(self.options.errors_file, reader.header, append=skip > 0)
                self.summary.errors_file = str(self.options.errors_file)
            self._run(reader, converter, skip)
            self.summary.complete = True
        except ImportFailed as exc:
            exc.summary = self.summary
            raise
        finally:
            self.summary.elapsed_s = round(time.monotonic() - started, 3)
            done = self.summary.rows - self.summary.skipped
            self.summary.rows_per_s = round(done / self.summary.elapsed_s, 1) if self.summary.elapsed_s else 0.0
            if self.progress is not None:
                self.progress.update(self.summary, reader.fraction() if reader else 0.0, force=True)
                self.progress.close()
            if reader is not None:
                reader.close()
            self.client.close()
            if self.errors is not None:
                self.errors.close()
        return self.summary

    def _run(self, reader: Reader, converter: Converter, skip: int) -> None:
        summary = self.summary
        batch: list[Pending] = []
        size = 0
        last_line = 0
        # Batches in flight, oldest first; waiting on the oldest keeps what the checkpoint confirms a prefix.
        flying: deque[tuple[Future[Sent], int, int]] = deque()
        pool = ThreadPoolExecutor(max_workers=self.options.concurrency)
        try:
            for row in reader.rows():
                summary.rows += 1
                if summary.rows <= skip:
                    summary.skipped += 1
                    continue
                try:
                    if row.values is None:
                        raise RowError(row.problem or "unreadable")
                    body = orjson.dumps(converter.convert(row.values, row.line))
                except RowError as exc:
                    self._reject(row, str(exc))
                else:
                    if batch and (len(batch) >= self.options.batch_size or size + len(body) > MAX_BODY_BYTES):
                        flying.append((pool.submit(self._send, batch), summary.rows - 1, last_line))
                        batch, size = [], 0
                        while len(flying) >= self.options.concurrency:
                            self._land(*flying.popleft())
                    batch.append(Pending(row, body))
                    size += len(body) + 1
                last_line = row.line
                if self.progress is not None:
                    self.progress.update(summary, reader.fraction())
            if batch:
                flying.append((pool.submit(self._send, batch), summary.rows, last_line))
            while flying:
                self._land(*flying.popleft())
        except BaseException:
            # Don't wait for batches in flight: closing the client ends their retries, dedupe covers the rest.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        self._confirm(summary.rows, last_line, complete=True)

    def _land(self, future: Future[Sent], rows: int, line: int) -> None:
        """Count what a batch did and confirm the rows up to it."""
        sent = future.result()
        self.summary.sent += sent.sent
        self.summary.accepted += sent.accepted
        self.summary.duplicates += sent.duplicates
        for row, reason in sent.refused:
            self._reject(row, reason)
        self._confirm(rows, line)

    def _confirm(self, rows: int, line: int, complete: bool = False) -> None:
        if self.errors is not None:
            self.errors.flush()
        self.checkpoint.save(rows, line, self.path, complete)

    def _reject(self, row: SourceRow, reason: str) -> None:
        self.summary.rejected += 1
        if len(self.summary.first_rejections) < FIRST_REASONS:
            self.summary.first_rejections.append(Rejection(row.line, reason))
        if self.errors is not None:
            self.errors.write(row, reason)

    def _send(self, batch: list[Pending]) -> Sent:
        """Send a batch; a refused batch loses the items the server names (or is halved) and the rest goes again."""
        result = Sent()
        parts = [batch]
        while parts:
            part = parts.pop(0)
            response = self._post(b'{"items":[' + b",".join(p.body for p in part) + b"]}")
            status = response.status_code
            if status in (200, 201, 202):
                answer = _json(response)
                result.sent += len(part)
                result.accepted += int(answer.get("accepted", 0))
                result.duplicates += int(answer.get("duplicates", 0))
                continue
            if status not in (400, 413, 422):
                raise ImportFailed(f"unexpected answer {status} from {self.gateway}: {_detail(response)}")
            refused = _item_errors(response, len(part)) if status == 422 else {}
            if refused:
                result.refused.extend((part[i].row, f"refused by the server: {r}") for i, r in sorted(refused.items()))
                rest = [p for i, p in enumerate(part) if i not in refused]
                if rest:
                    parts.insert(0, rest)
            elif len(part) == 1:
                result.refused.append((part[0].row, f"refused by the server ({status}): {_detail(response)}"))
            else:
                # Nothing names the culprit (e.g. a body too large, or not JSON): halve until it is isolated.
                middle = len(part) // 2
                parts[0:0] = [part[:middle], part[middle:]]
        return result

    def _post(self, body: bytes) -> httpx.Response:
        """POST a batch, retrying rate limits, outages and connection errors with backoff."""
        tries = self.options.max_tries
        for attempt in range(1, tries + 1):
            try:
                response = self.client.post("/v1/feedback/batch", content=body)
            except httpx.TransportError as exc:
                if attempt == tries:
                    raise ImportFailed(
                        f"cannot reach the gateway at {self.gateway} after {tries} tries: {exc!r}"
                    ) from exc
                self.sleep(_backoff(attempt, None))
                continue
            status = response.status_code
            if status == 401:
                raise ImportFailed(f"the gateway refused the API key (401): {_detail(response)}")
            if status == 403:
                raise ImportFailed(f"the API key may not write feedback (403, needs ingest:write): {_detail(response)}")
            if status == 429 or status >= 500:
                if attempt == tries:
                    raise ImportFailed(f"the gateway still answered {status} after {tries} tries: {_detail(response)}")
                self.sleep(_backoff(attempt, response.headers.get("Retry-After")))
                continue
            return response
        raise AssertionError("unreachable")


def run_import(
    path: Path,
    *,
    gateway: str,
    api_key: str,
    options: Options | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Summary:
    """Import one file through the gateway; raises ImportFailed on bad arguments, unreadable input or fatal errors."""
    try:
        importer = Importer(
            path, gateway=gateway, api_key=api_key, options=options or Options(), progress=progress, sleep=sleep
        )
    except (ValueError, OSError) as exc:
        raise ImportFailed(str(exc)) from exc
    try:
        return importer.run()
    except (ValueError, OSError) as exc:
        raise ImportFailed(str(exc), importer.summary) from exc


def format_summary(summary: Summary) -> str:
    """The summary for people."""
    lines = [
        f"{summary.file} ({summary.format}): {summary.rows} rows in {summary.elapsed_s:.1f} s, "
        f"{summary.rows_per_s:,.0f} rows/s" + ("" if summary.complete else "  (INCOMPLETE)"),
        f"  accepted    {summary.accepted}",
        f"  duplicates  {summary.duplicates}  (stored before)",
        f"  rejected    {summary.rejected}" + (f"  (all in {summary.errors_file})" if summary.errors_file else ""),
    ]
    if summary.skipped:
        lines.append(f"  skipped     {summary.skipped}  (confirmed by an earlier run; see {summary.checkpoint})")
    if summary.ignored_columns:
        lines.append(f"  ignored columns: {', '.join(summary.ignored_columns)}  (map them with --map)")
    if summary.first_rejections:
        shown = len(summary.first_rejections)
        lines.append(f"first {shown} rejections:" if shown < summary.rejected else "rejections:")
        lines.extend(f"  line {r.line}: {r.reason}" for r in summary.first_rejections)
    return "\n".join(lines)


class _Counting(io.RawIOBase):
    """A raw stream that counts the bytes read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


def _loose(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _dig(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError(f"{name} must be text, not {type(value).__name__}")
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise RowError(f"{name} is {len(text)} characters long; at most {limit} are allowed")
    if "\x00" in text:
        raise RowError(f"{name} holds a NUL character")
    return text


def _score(value: Any, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            try:
                as_float = float(value.strip())
                number = int(as_float) if as_float.is_integer() else None
            except (ValueError, OverflowError):
                number = None
    if number is None:
        raise RowError(f"scores.{name} {value!r} is not a whole number")
    if not low <= number <= high:
        raise RowError(f"scores.{name} {number} is out of range {low}–{high}")
    return number


def _backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(60.0, max(0.0, float(retry_after)))
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                moment = None
            if moment is not None and moment.tzinfo is not None:
                return min(60.0, max(0.0, (moment - datetime.now(UTC)).total_seconds()))
    return min(30.0, 0.5 * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _detail(response: httpx.Response) -> str:
    data = _json(response)
    detail = data.get("detail") or data.get("title")
    return str(detail) if detail else response.text[:300]


def _item_errors(response: httpx.Response, count: int) -> dict[int, str]:
    """The server's complaints per item of the batch, by index (from `errors[].loc` = body, items, index, …)."""
    refused: dict[int, str] = {}
    for error in _json(response).get("errors", []) or []:
        loc = error.get("loc") if isinstance(error, dict) else None
        if not isinstance(loc, list) or len(loc) < 3 or loc[:2] != ["body", "items"]:
            continue
        try:
            index = int(loc[2])
        except (TypeError, ValueError):
            continue
        if 0 <= index < count:
            where = ".".join(str(p) for p in loc[3:])
            reason = f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", ""))
            refused[index] = f"{refused[index]}; {reason}" if index in refused else reason
    return refused
