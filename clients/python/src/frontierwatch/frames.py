"""Lists and analytics answers as tables: ``to_pandas()`` and
``to_arrow()``, behind the ``pandas`` extra (``pip install
'./clients/python[pandas]'``); the core package does not need them.

A table has one row per item: a message of a list (``client.pages(...)``
or a List response), or, for an analytics answer, each leaf of its
deepest chain of repeated messages (a leaderboard's rows, a progression's
records, a price frontier's points, a report's metrics), with the scalar
fields of the messages above it as columns named by their path
(``sections.settings_key``). ``path`` names another chain
(``"breakdown.metrics"``). Within a row, nested messages become dotted
columns; timestamps become UTC datetimes, dates become dates (unset or
partial dates: none), enums their names, repeated scalars lists, and
repeated messages lists of dicts.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

if TYPE_CHECKING:
    import pandas
    import pyarrow

Row = dict[str, Any]


# Descriptors are typed `Any` here: the runtime's (upb) and the pure
# Python ones are different classes with the same attributes.


def _is_repeated(field: Any) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _is_message(field: Any) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and not (
        field.message_type is not None and field.message_type.GetOptions().map_entry
    )


def _value(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type.values_by_number.get(value) if field.enum_type else None
        return enum.name if enum is not None else value
    if _is_message(field):
        return _message_value(value)
    return value


def _message_value(message: Message) -> Any:
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        seconds = getattr(message, "seconds", 0)
        nanos = getattr(message, "nanos", 0)
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
        return epoch + datetime.timedelta(seconds=seconds, microseconds=nanos // 1000)
    if name == "frontierwatch.v1.Date":
        year, month, day = (getattr(message, f) for f in ("year", "month", "day"))
        return datetime.date(year, month, day) if month and day else None
    if name == "google.protobuf.Any":
        return getattr(message, "type_url", "")
    return _flatten(message, "")


def _flatten(message: Message, prefix: str) -> Row:
    row: Row = {}
    fields: list[Any] = list(message.DESCRIPTOR.fields)
    for field in fields:
        key = f"{prefix}{field.name}"
        value = getattr(message, field.name)
        if _is_repeated(field):
            if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
                row[key] = dict(value)
            else:
                row[key] = [_value(field, v) for v in value]
        elif _is_message(field):
            # An unset message gives the same columns, empty, so that every
            # row of a table has them.
            present = message.HasField(field.name)
            inner = _message_value(value)
            if isinstance(inner, dict):
                row.update({f"{key}.{k}": (v if present else None) for k, v in inner.items()})
            else:
                row[key] = inner if present else None
        elif field.has_presence and not message.HasField(field.name):
            row[key] = None
        else:
            row[key] = _value(field, value)
    return row


def _chain(descriptor: Any) -> list[str]:
    """The deepest chain of repeated message fields (the first of equal
    depth, in declaration order)."""
    best: list[str] = []
    fields: list[Any] = list(descriptor.fields)
    for field in fields:
        if _is_repeated(field) and _is_message(field):
            chain = [field.name, *_chain(field.message_type)]
            if len(chain) > len(best):
                best = chain
    return best


def _scalars(message: Message, prefix: str, skip: str) -> Row:
    row = _flatten(message, prefix)
    return {k: v for k, v in row.items() if not k.startswith(f"{prefix}{skip}")}


def rows(answer: Message | Iterable[Message], path: str | None = None) -> list[Row]:
    """The table's rows, as dicts (see the module)."""
    if not isinstance(answer, Message):
        return [_flatten(m, "") for m in answer]
    chain = path.split(".") if path else _chain(answer.DESCRIPTOR)
    if not chain:
        return [_flatten(answer, "")]
    out: list[Row] = []

    def walk(message: Message, depth: int, above: Row, prefix: str) -> None:
        name = chain[depth]
        here = {**above, **_scalars(message, prefix, name)}
        for item in getattr(message, name):
            if depth + 1 == len(chain):
                out.append({**here, **_flatten(item, "")})
            else:
                walk(item, depth + 1, here, f"{prefix}{name}.")

    walk(answer, 0, {}, "")
    return out


def to_pandas(answer: Message | Iterable[Message], path: str | None = None) -> pandas.DataFrame:
    """The table as a pandas DataFrame (the ``pandas`` extra)."""
    import pandas

    table = rows(answer, path)
    frame = pandas.DataFrame.from_records(table)
    for column in frame.columns:
        values = [v for v in frame[column] if v is not None]
        if values and all(isinstance(v, datetime.datetime) for v in values):
            frame[column] = pandas.to_datetime(frame[column], utc=True)
    return frame


def to_arrow(answer: Message | Iterable[Message], path: str | None = None) -> pyarrow.Table:
    """The table as a pyarrow Table, its types inferred from the values
    (dates as dates, timestamps in UTC, lists as lists)."""
    import pyarrow

    return pyarrow.Table.from_pylist(rows(answer, path))
