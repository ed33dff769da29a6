# Values: what R objects become on the wire, and that they come back
# identical (spec/values.md).

round_trip <- function(ws, x) {
  nwsStore(ws, "v", x)
  nwsFetch(ws, "v")
}

test_that("a character(1) travels as text and comes back as a character(1)", {
  ws <- test_ws("text")
  nwsStore(ws, "t", "hello")
  expect_equal(wire_kind(ws, "t"), "text")
  expect_identical(round_trip(ws, "hello"), "hello")
  expect_identical(round_trip(ws, ""), "")
})

test_that("text is UTF-8 whatever the string's declared encoding", {
  ws <- test_ws("utf8")
  s <- "h\u00e9llo \u2713 \u65e5\u672c"
  expect_identical(round_trip(ws, s), s)
  latin <- iconv("caf\u00e9", "UTF-8", "latin1")
  expect_equal(Encoding(latin), "latin1")
  back <- round_trip(ws, latin)
  expect_identical(back, "caf\u00e9")
  expect_equal(Encoding(back), "UTF-8")
})

test_that("a raw vector travels as raw bytes", {
  ws <- test_ws("raw")
  nwsStore(ws, "r", as.raw(0:255))
  expect_equal(wire_kind(ws, "r"), "raw")
  expect_identical(round_trip(ws, as.raw(c(0, 1, 255))), as.raw(c(0, 1, 255)))
  expect_identical(round_trip(ws, raw(0)), raw(0))
})

test_that("other objects travel as r/serialize blobs", {
  ws <- test_ws("blob")
  for (x in list(1L, 2.5, c("a", "b"), NA_character_, NULL, list(1))) {
    nwsStore(ws, "b", x)
    expect_equal(wire_kind(ws, "b"), "r/serialize")
  }
  # A character(1) with attributes keeps them, so it is serialized.
  nwsStore(ws, "b", c(name = "x"))
  expect_equal(wire_kind(ws, "b"), "r/serialize")
})

test_that("NULL, NA and empty vectors round-trip exactly", {
  ws <- test_ws("empty")
  for (x in list(NULL, NA, NA_integer_, NA_real_, NA_character_, logical(0), integer(0),
                 numeric(0), character(0), list(), c(a = NA), NaN, Inf, -0)) {
    expect_identical(round_trip(ws, x), x)
  }
})

test_that("numbers, vectors, lists and matrices round-trip exactly", {
  ws <- test_ws("vec")
  for (x in list(42L, pi, 1:1000, c(TRUE, FALSE, NA), 1i + 2, c(a = 1, b = 2),
                 list(a = 1, b = list(c = "d")), matrix(1:6, 2, dimnames = list(c("r1", "r2"), NULL)),
                 as.Date("2007-01-01"), as.POSIXct("2007-01-01 12:00:00", tz = "UTC"),
                 c("x", "y"), .Machine$double.xmax)) {
    expect_identical(round_trip(ws, x), x)
  }
})

test_that("factors and data frames round-trip with their levels and classes", {
  ws <- test_ws("df")
  f <- factor(c("lo", "hi", "lo"), levels = c("lo", "hi"))
  expect_identical(round_trip(ws, f), f)
  df <- data.frame(a = 1:3, b = c("x", "y", "z"), f = f, stringsAsFactors = FALSE)
  expect_identical(round_trip(ws, df), df)
})

test_that("closures round-trip with their environments and still work", {
  ws <- test_ws("closure")
  make_adder <- function(n) function(x) x + n
  add3 <- make_adder(3)
  back <- round_trip(ws, add3)
  expect_true(is.function(back))
  expect_equal(back(4), 7)
  expect_equal(round_trip(ws, sum)(1:4), 10)
})

test_that("a large value (several chunks) round-trips", {
  ws <- test_ws("large")
  big <- as.raw(sample(0:255, 5 * 1024 * 1024 + 17, replace = TRUE))
  expect_identical(round_trip(ws, big), big)
  obj <- list(x = runif(400000), s = "tail")
  expect_identical(round_trip(ws, obj), obj)
})

test_that("values stored as text by another client are character(1) in R", {
  ws <- test_ws("native")
  # The native layer stores exactly what a Python str or Rust String is.
  expect_null(nws:::nws_store(ws@server@session, nwsWsName(ws), "s", "from elsewhere", ""))
  expect_identical(nwsFetch(ws, "s"), "from elsewhere")
})

test_that("an undecodable r/serialize value raises nws_error_decode carrying its bytes", {
  ws <- test_ws("decode")
  junk <- as.raw(c(1, 2, 3, 4))
  expect_null(nws:::nws_store(ws@server@session, nwsWsName(ws), "bad", junk, "r/serialize"))
  e <- tryCatch(nwsFetch(ws, "bad"), error = function(e) e)
  expect_s3_class(e, "nws_error_decode")
  expect_s3_class(e, "nws_error")
  expect_equal(e$reason, "DECODE")
  expect_equal(e$codec, "r/serialize")
  expect_identical(unclass(e$value)[seq_along(junk)], junk)
  expect_identical(as.vector(unclass(e$value)), junk)
  # The fetch consumed it; the condition is where it lives now.
  expect_null(nwsFetchTry(ws, "bad"))
})

test_that("a value of a foreign codec raises nws_error_decode and can be stored back unchanged", {
  ws <- test_ws("foreign")
  pickle <- as.raw(c(0x80, 0x05, 0x4b, 0x2a, 0x2e))
  expect_null(nws:::nws_store(ws@server@session, nwsWsName(ws), "p", pickle, "python/pickle"))
  e <- tryCatch(nwsFind(ws, "p"), error = function(e) e)
  expect_s3_class(e, "nws_error_decode")
  expect_equal(e$codec, "python/pickle")
  expect_s3_class(e$value, "nws_blob")
  expect_output(print(e$value), "python/pickle, 5 bytes")
  # Relay it: same bytes, same codec.
  nwsStore(ws, "relay", e$value)
  expect_equal(wire_kind(ws, "relay"), "python/pickle")
  nwsStore(ws, "relay", nwsBlob(pickle, "python/pickle"))
  v <- nws:::nws_retrieve(ws@server@session, nwsWsName(ws), "relay", 0L, 5)
  expect_identical(as.vector(v), pickle)
})
