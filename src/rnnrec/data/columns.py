"""Column names of the canonical interaction frame, in one place instead of string literals."""


class Columns:
    """The canonical frame every reader returns (a ``polars.DataFrame``).

    - ``user_id`` (Utf8): user or session ID, as in the source file.
    - ``item_id`` (Utf8): item ID, as in the source file.
    - ``timestamp`` (Float64, seconds since the Unix epoch): present only when the source has time.
    Rows keep the original file order; sorting by time happens in the dataset, stably.
    """

    USER = "user_id"
    ITEM = "item_id"
    TIME = "timestamp"
