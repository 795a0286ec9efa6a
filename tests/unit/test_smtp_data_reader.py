"""The chunked DATA reader on its own: the end of data, dot-unstuffing, the limits and the
refusal of bare LF and bare CR, wherever the chunk boundaries fall.

Chunks are compared with a reference that reads the same octets one CRLF-terminated line at a
time, as aiosmtpd 1.4.6 does. The reference also applies this project's bare-newline rule.

Long lines: RFC 5321 section 4.5.3.1.6 allows 1,000 octets per line, CRLF included, plus a
stuffed dot. aiosmtpd refuses a line longer than 1,001 octets as sent and answers 500 once
the data has ended. Postfix accepts longer lines and, when it relays them, folds them at
998 octets (smtp_line_length_limit). This gateway must pass the message on byte for byte,
so it cannot fold lines. It keeps aiosmtpd's rule, and the sender gets a 500, not a silent
change to the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.smtp.protocol import DataAccumulator, DataError, find_bare_newline

BODY = b"Subject: hello\r\n\r\nline one\r\n..dot stuffed\r\nlast line\r\n"
UNSTUFFED = b"Subject: hello\r\n\r\nline one\r\n.dot stuffed\r\nlast line\r\n"
END = b".\r\n"
SMUGGLED = b"MAIL FROM:<ceo@council.example.org>\r\nRCPT TO:<x@council.example.org>\r\nDATA\r\n"


@dataclass(frozen=True)
class Outcome:
    done: bool
    content: bytes = b""
    error: DataError | None = None
    rest: bytes = b""


def read_in_chunks(chunks: list[bytes], **limits: int | None) -> Outcome:
    """Feed the chunks in order until the reader stops, as the protocol does."""
    reader = DataAccumulator(**limits)
    for index, chunk in enumerate(chunks):
        if reader.feed(chunk):
            if reader.error in (DataError.BARE_LF, DataError.BARE_CR):
                return Outcome(True, error=reader.error)
            rest = reader.rest + b"".join(chunks[index + 1 :])
            return Outcome(True, reader.content, reader.error, rest)
    return Outcome(False)


def read_line_by_line(
    stream: bytes, size_limit: int | None = None, line_length_limit: int = 1001
) -> Outcome:
    """The reference: one CRLF-terminated line at a time."""
    lines: list[bytes] = []
    position = 0
    while True:
        end = stream.find(b"\r\n", position)
        line = stream[position:] if end < 0 else stream[position:end]
        bare = _first_bare_newline(line, finished=end >= 0)
        if bare is not None:
            return Outcome(True, error=bare)
        if end < 0:
            return Outcome(False)
        position = end + 2
        if line == b".":
            break
        lines.append(line)
    content = b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)
    if size_limit and len(content) > size_limit:
        return Outcome(True, error=DataError.TOO_BIG, rest=stream[position:])
    if any(len(line) + 2 > line_length_limit for line in lines):
        return Outcome(True, error=DataError.LINE_TOO_LONG, rest=stream[position:])
    return Outcome(True, content, rest=stream[position:])


def _first_bare_newline(piece: bytes, *, finished: bool) -> DataError | None:
    # Between two CRLFs every CR and LF is bare, except that an unfinished piece's final CR
    # may still get its LF.
    if not finished and piece.endswith(b"\r"):
        piece = piece[:-1]
    found = [index for index in (piece.find(b"\r"), piece.find(b"\n")) if index >= 0]
    if not found:
        return None
    return DataError.BARE_LF if piece[min(found)] == ord("\n") else DataError.BARE_CR


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[start:stop] for start, stop in pairwise(bounds)]


# --- the end of data and dot-unstuffing ---------------------------------------------------


def test_a_message_ends_at_the_lone_dot_and_loses_its_stuffed_dots() -> None:
    assert read_in_chunks([BODY + END]) == Outcome(True, UNSTUFFED)


def test_an_empty_message_is_a_dot_straight_after_data() -> None:
    assert read_in_chunks([END]) == Outcome(True, b"")
    assert read_in_chunks([b".", b"\r", b"\n"]) == Outcome(True, b"")


def test_only_a_dot_at_the_start_of_a_line_is_unstuffed() -> None:
    stream = b"..\r\n...three\r\na..b\r\n.unstuffed by a careless client\r\n" + END
    expected = b".\r\n..three\r\na..b\r\nunstuffed by a careless client\r\n"
    assert read_in_chunks([stream]) == Outcome(True, expected)


def test_octets_after_the_end_of_data_are_left_for_the_command_reader() -> None:
    assert read_in_chunks([BODY + END + b"QUIT\r\n"]).rest == b"QUIT\r\n"


def test_a_bare_newline_after_the_end_of_data_belongs_to_the_next_command() -> None:
    assert read_in_chunks([BODY + END + b"QUIT\n"]) == Outcome(True, UNSTUFFED, rest=b"QUIT\n")


def test_a_dot_line_that_is_not_alone_does_not_end_the_data() -> None:
    assert read_in_chunks([b"a\r\n.x\r\n", b"..\r\n"]) == Outcome(False)


@pytest.mark.parametrize("cut", range(1, len(BODY + END)))
def test_every_single_cut_gives_the_same_message(cut: int) -> None:
    assert read_in_chunks(split_at(BODY + END, [cut])) == Outcome(True, UNSTUFFED)


def test_one_octet_at_a_time_gives_the_same_message() -> None:
    stream = BODY + END + b"RSET\r\n"
    chunks = [stream[index : index + 1] for index in range(len(stream))]
    assert read_in_chunks(chunks) == Outcome(True, UNSTUFFED, rest=b"RSET\r\n")


def test_the_end_of_data_split_inside_every_octet_pair_is_still_found() -> None:
    for first in range(1, 5):
        for second in range(first + 1, 6):
            stream = b"x\r\n" + END
            cuts = [first, second]
            assert read_in_chunks(split_at(stream, cuts)) == Outcome(True, b"x\r\n"), cuts


def test_a_hundred_kilobyte_message_in_socket_sized_chunks() -> None:
    lines = [b"%d" % n + b"X" * 77 for n in range(1300)]
    lines[100] = b"." + lines[100]
    content = b"".join(line + b"\r\n" for line in lines)
    stream = content.replace(b"\r\n.", b"\r\n..") + END
    chunks = [stream[start : start + 65536] for start in range(0, len(stream), 65536)]
    assert read_in_chunks(chunks) == Outcome(True, content)


def test_feeding_after_the_end_is_a_mistake() -> None:
    reader = DataAccumulator()
    reader.feed(END)
    with pytest.raises(ValueError, match="already ended"):
        reader.feed(b"more")


# --- limits -------------------------------------------------------------------------------


def test_the_size_limit_counts_unstuffed_octets() -> None:
    content = b".a\r\n"  # four octets, five as sent
    assert read_in_chunks([b"." + content + END], size_limit=4) == Outcome(True, content)
    assert read_in_chunks([b"." + content + END], size_limit=3).error is DataError.TOO_BIG


def test_no_size_limit_when_it_is_zero_or_none() -> None:
    assert read_in_chunks([BODY + END], size_limit=0) == Outcome(True, UNSTUFFED)
    assert read_in_chunks([BODY + END], size_limit=None) == Outcome(True, UNSTUFFED)


def test_an_oversize_message_is_read_to_its_end_and_kept_nowhere() -> None:
    reader = DataAccumulator(size_limit=10)
    assert not reader.feed(b"0123456789abcdef\r\n")
    assert reader.error is DataError.TOO_BIG and reader.content == b""
    assert not reader.feed(b"more\r\n")
    assert reader.feed(END + b"NOOP\r\n")
    assert (reader.error, reader.content, reader.rest) == (DataError.TOO_BIG, b"", b"NOOP\r\n")


def test_a_line_may_be_1001_octets_as_sent_and_no_more() -> None:
    longest = b"x" * 999 + b"\r\n"
    assert read_in_chunks([longest + END]) == Outcome(True, longest)
    assert read_in_chunks([b"x" + longest + END]).error is DataError.LINE_TOO_LONG


def test_the_stuffed_dot_counts_towards_the_line_length() -> None:
    # aiosmtpd measures the line as sent, so 999 octets behind a stuffed dot are one too many.
    assert read_in_chunks([b"." + b"." * 999 + b"\r\n" + END]).error is DataError.LINE_TOO_LONG


def test_a_long_line_is_measured_across_chunks() -> None:
    chunks = [b"short\r\n" + b"x" * 600, b"x" * 600, b"\r\n" + END]
    assert read_in_chunks(chunks).error is DataError.LINE_TOO_LONG


def test_long_lines_made_of_many_short_chunks_are_allowed_up_to_the_limit() -> None:
    line = b"y" * 999 + b"\r\n"
    assert read_in_chunks([line[i : i + 7] for i in range(0, len(line), 7)] + [END]) == Outcome(
        True, line
    )


def test_too_big_wins_over_a_long_line() -> None:
    stream = b"z" * 2000 + b"\r\n" + END
    assert read_in_chunks([stream], size_limit=100).error is DataError.TOO_BIG


def test_a_bare_newline_after_a_long_line_still_closes_the_session() -> None:
    stream = b"z" * 2000 + b"\r\n" + b"\n.\n" + SMUGGLED + END
    assert read_in_chunks([stream]).error is DataError.BARE_LF


# --- SMTP smuggling -----------------------------------------------------------------------

SMUGGLING = {
    "LF.LF": (b"\n.\n", DataError.BARE_LF),
    "CR.CR": (b"\r.\r", DataError.BARE_CR),
    "CRLF.LF": (b"\r\n.\n", DataError.BARE_LF),
    "LF.CRLF": (b"\n.\r\n", DataError.BARE_LF),
    "CR.CRLF": (b"\r.\r\n", DataError.BARE_CR),
    "CRLF.CR": (b"\r\n.\r", DataError.BARE_CR),
    "CRLF.CR then LF late": (b"\r\n.\rX\n", DataError.BARE_CR),
    "LF in a line": (b"\r\nhello\nworld\r\n", DataError.BARE_LF),
    "CR in a line": (b"\r\nhello\rworld\r\n", DataError.BARE_CR),
    "CR CR LF": (b"\r\r\n", DataError.BARE_CR),
    "LF LF": (b"\r\n\n\r\n", DataError.BARE_LF),
}


@pytest.mark.parametrize(("ending", "error"), SMUGGLING.values(), ids=SMUGGLING.keys())
def test_a_bare_newline_anywhere_before_the_end_is_refused(ending: bytes, error: DataError) -> None:
    stream = b"Subject: hello\r\n\r\nhello" + ending + SMUGGLED + b"smuggled\r\n" + END
    assert read_in_chunks([stream]) == Outcome(True, error=error)
    for cut in range(1, len(stream)):
        assert read_in_chunks(split_at(stream, [cut])) == Outcome(True, error=error), cut


def test_a_bare_newline_at_the_very_start_is_refused() -> None:
    assert read_in_chunks([b"\n.\n"]) == Outcome(True, error=DataError.BARE_LF)
    assert read_in_chunks([b"\r.\r\n"]) == Outcome(True, error=DataError.BARE_CR)


def test_a_bare_newline_is_refused_without_waiting_for_the_end() -> None:
    assert read_in_chunks([b"body\nmore"]) == Outcome(True, error=DataError.BARE_LF)


def test_a_final_cr_waits_for_the_next_chunk() -> None:
    reader = DataAccumulator()
    assert not reader.feed(b"body\r")
    assert reader.feed(b"x") and reader.error is DataError.BARE_CR


def test_find_bare_newline() -> None:
    assert find_bare_newline(b"a\r\nb\r\n") is None
    assert find_bare_newline(b"a\r\nb\n") is DataError.BARE_LF
    assert find_bare_newline(b"a\rb\nc") is DataError.BARE_CR
    assert find_bare_newline(b"a\r\r\n") is DataError.BARE_CR
    assert find_bare_newline(b"a\r") is DataError.BARE_CR
    assert find_bare_newline(b"a\r", complete=False) is None
    assert find_bare_newline(b"\n\r", complete=False) is DataError.BARE_LF


# --- properties: any chunking, same answer as the line-by-line reference ------------------

PIECES = [b"x", b"yy", b".", b"..", b"\r", b"\n", b"\r\n", b"\r\n.", b".\r\n", b"\r\n.\r\n"]
streams = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)
limits = st.fixed_dictionaries(
    {
        "size_limit": st.one_of(st.none(), st.integers(0, 40)),
        "line_length_limit": st.sampled_from([4, 6, 12, 1001]),
    }
)


@settings(max_examples=400)
@given(stream=streams, limits=limits, data=st.data())
def test_any_chunking_reads_like_the_line_by_line_reference(
    stream: bytes, limits: dict[str, int | None], data: st.DataObject
) -> None:
    stream += END if data.draw(st.booleans()) else b""
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    assert read_in_chunks(split_at(stream, cuts), **limits) == read_line_by_line(stream, **limits)


lines = st.lists(
    st.binary(max_size=30).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"")),
    max_size=20,
)


@settings(max_examples=300)
@given(lines=lines, data=st.data())
def test_a_dot_stuffed_message_is_restored_byte_for_byte(
    lines: list[bytes], data: st.DataObject
) -> None:
    content = b"".join(line + b"\r\n" for line in lines)
    stream = b"".join((b"." if line.startswith(b".") else b"") + line + b"\r\n" for line in lines)
    stream += END + b"QUIT\r\n"
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    assert read_in_chunks(split_at(stream, cuts)) == Outcome(True, content, rest=b"QUIT\r\n")


@settings(max_examples=300)
@given(lines=lines, bare=st.sampled_from([b"\n", b"\r"]), data=st.data())
def test_a_bare_newline_is_always_refused(
    lines: list[bytes], bare: bytes, data: st.DataObject
) -> None:
    stream = b"".join(line + b"\r\n" for line in lines if not line.startswith(b"."))
    at = data.draw(st.integers(0, len(stream)))
    # Put the bare octet where it cannot pair up with a neighbour into a CRLF.
    while at and stream[at - 1 : at] == b"\r":
        at -= 1
    stream = stream[:at] + bare + b"x" + stream[at:] + END
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    outcome = read_in_chunks(split_at(stream, cuts))
    assert outcome.done and outcome.error in (DataError.BARE_LF, DataError.BARE_CR)
    assert outcome.content == b""
