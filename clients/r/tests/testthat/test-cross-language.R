# Cross-language: the article's Example 1. Python stores 'ticket string' in
# workspace 'tickets'; R's nwsFetch(ws, 'ticket') returns "ticket string".
# And the reverse. Needs the project's Python client (nws.client).

skip_without_python <- function() {
  py <- python_with_nws()
  if (is.null(py))
    skip("the Python client is not installed: `python3 -c 'import nws.client'` fails (scripts/python.sh installs it)")
  py
}

run_python <- function(py, code) {
  processx::run(py, c("-c", code), error_on_status = FALSE, timeout = 60,
                env = c("current", NWS_HOST = "127.0.0.1", NWS_PORT = test_port()))
}

test_that("a str stored by Python is fetched by R as a character string", {
  py <- skip_without_python()
  # R owns 'tickets' (the master mentions it first); Python comes and goes.
  ws <- netWorkSpace("tickets", "127.0.0.1", test_port())
  on.exit(nwsClose(ws))
  r <- run_python(py, paste(
    "from nws.client import NetWorkSpace",
    "ws = NetWorkSpace('tickets')",
    "ws.store('ticket', 'ticket string')",
    sep = "\n"))
  expect_equal(r$status, 0, info = r$stderr)
  expect_identical(nwsFetch(ws, "ticket", timeout = 10), "ticket string")
})

test_that("a character string stored by R is fetched by Python as a str", {
  py <- skip_without_python()
  ws <- netWorkSpace("tickets", "127.0.0.1", test_port())
  on.exit(nwsClose(ws))
  nwsStore(ws, "ticket", "ticket string")
  nwsStore(ws, "bytes", as.raw(c(0, 1, 255)))
  r <- run_python(py, paste(
    "from nws.client import NetWorkSpace",
    "ws = NetWorkSpace('tickets')",
    "t = ws.fetch('ticket')",
    "print(type(t).__name__, repr(t))",
    "print(repr(ws.fetch('bytes')))",
    sep = "\n"))
  expect_equal(r$status, 0, info = r$stderr)
  expect_match(r$stdout, "str 'ticket string'", fixed = TRUE)
  expect_match(r$stdout, "b'\\x00\\x01\\xff'", fixed = TRUE)
})

test_that("an R object fetched by Python arrives undecoded, and a pickle in R raises nws_error_decode", {
  py <- skip_without_python()
  ws <- netWorkSpace("tickets", "127.0.0.1", test_port())
  on.exit(nwsClose(ws))
  nwsStore(ws, "robj", list(a = 1))
  r <- run_python(py, paste(
    "from nws.client import NetWorkSpace, NwsUnpicklingException",
    "ws = NetWorkSpace('tickets')",
    "try:",
    "    ws.fetch('robj')",
    "except NwsUnpicklingException as e:",
    "    print('undecodable', e.codec if hasattr(e, 'codec') else '')",
    "ws.store('pyobj', {'a': (1, 2)})",
    sep = "\n"))
  expect_equal(r$status, 0, info = r$stderr)
  expect_match(r$stdout, "undecodable")
  e <- tryCatch(nwsFetch(ws, "pyobj", timeout = 10), error = function(e) e)
  expect_s3_class(e, "nws_error_decode")
  expect_equal(e$codec, "python/pickle")
})
