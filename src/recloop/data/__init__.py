"""The data stage: canonical tables, readers, the event store, ingest, replay.

Modules: ``readers`` (files -> canonical frames; ``csv_records`` for CSV), ``kinds``
(which kind a batch's columns fit), ``schema`` + ``migrations`` (tables, Alembic), ``store``
(open/migrate, bulk writes, ``load_events``/``load_items``/``load_users``), ``ingest``
(``ingest_path``/``ingest_frame``), ``batch_log`` (the ingest log), ``quarantine``,
``datasets`` (named datasets, ``recloop data fetch``), ``replay``.

Data rules (enforced by the suites in ``recloop/validation/suites``):

- Ids (and timestamps) are parsed exactly as signed 64-bit integers, never through float:
  a value outside [-2**63, 2**63 - 1] is invalid (quarantined, never clamped). Text
  values may not exceed the store schema's column lengths (``<col>_too_long``, on every
  backend) nor hold a NUL (``text_contains_nul``). A CSV record is one physical line
  (``csv_records``): a quote left open is that row's ``unbalanced_quote``.
- Events: ids are whole numbers >= 0; the value lies in the range configured for its event
  type (``settings.ingest.value_ranges``; ratings 0.5-5). A source without a value column
  is implicit feedback: each row one positive ``interaction`` of value 1.0 (without an
  event column; ``readers.event_defaults``); timestamps are Unix seconds,
  not before ``min_timestamp`` (1995-01-01), not beyond now + ``future_tolerance_seconds``,
  and a value above ``milliseconds_threshold`` (1e11) is reported as
  ``timestamp_in_milliseconds`` (never silently divided).
- Unknown items: with an empty catalog every item id is accepted; once items were
  ingested, an event for an item not in the catalog is quarantined (``unknown_item``),
  or, with ``RECLOOP_INGEST__UNKNOWN_ITEMS=register``, the item is registered without a
  title (``first_seen`` = its first event) and the event accepted.
- Items: ``year`` is a 4-digit year or null. Anything else (MovieLens-100k item 267 says
  "unkonwn", item 1412 says "V") becomes null with a counted ``year_unparseable`` warning;
  the item itself is kept. ``first_seen`` is the earliest accepted event for the item.
- Duplicates: the natural key (timestamp, user, item, event type) is unique. A repeat with
  the same content is counted as a duplicate (not stored twice, not quarantined); the same
  key with a different value is quarantined (``conflicting_duplicate`` within a batch,
  ``conflicts_with_stored`` against the store).
- Header-only, empty, unreadable files and files missing a required column (a wrong
  delimiter shows up as one) are unusable input (exit 2); nothing is written for them.
- Kinds: a batch's columns decide whether it holds events, items or users (``kinds``: the
  kind's required columns present, none that another kind requires). A ``--kind`` the
  columns do not fit is unusable input (exit 2), and a file name never decides.
- Catalogues: an items or users batch changes only the columns it carries; a new id gets
  NULL in the others. ``first_seen`` and a year split off a title change only where the
  batch has a value.
- Ingest log: a batch is logged ``running`` when it starts; a process that dies leaves it
  ``interrupted`` (found by the next ingest or ``recloop batches``) and nothing stored, so
  the same file can simply be ingested again (``batch_log``).
"""
