# Sessions: their lifetime follows the R objects, and they survive long
# computations between calls.

test_that("a session survives a long computation without calls", {
  ws <- test_ws("idle")
  nwsStore(ws, "x", 1)
  # Busy in R (no calls) for longer than the server's keepalive timeout.
  t0 <- Sys.time()
  n <- 0
  while (as.numeric(Sys.time() - t0, units = "secs") < 3.5) n <- n + 1
  other <- nwsServer("127.0.0.1", test_port())
  on.exit(close(other))
  expect_true(nwsWsName(ws) %in% nwsListWss(other, showDataFrame = TRUE)$Name)
  expect_equal(nwsFetch(ws, "x"), 1)
})

test_that("a session whose objects are garbage collected ends, and its workspace goes", {
  name <- uniq_ws("gc")
  local({
    ws <- netWorkSpace(name, "127.0.0.1", test_port())
    nwsStore(ws, "x", 1)
  })
  invisible(gc())
  other <- nwsServer("127.0.0.1", test_port())
  on.exit(close(other))
  gone <- FALSE
  for (i in 1:50) {
    if (!(name %in% nwsListWss(other, showDataFrame = TRUE)$Name)) { gone <- TRUE; break }
    Sys.sleep(0.1)
  }
  expect_true(gone)
})

test_that("a fetched value is acknowledged even if R exits right after", {
  ws <- test_ws("ack")
  for (i in 1:5) nwsStore(ws, "job", i)
  prog <- function(end) r_program(
    "library(nws)",
    sprintf("ws <- netWorkSpace('%s', useUse = TRUE)", nwsWsName(ws)),
    "cat(nwsFetch(ws, 'job'), '\\n')",
    end)
  # The session is closed at exit (an exit finalizer), after its
  # acknowledgements: a normal end, quit() and an error alike.
  # (Results first: expect_match() evaluates its argument twice.)
  outs <- vapply(c("", "quit(status = 3)", "stop('boom')"),
                 function(end) run_r(prog(end))$stdout, "")
  expect_equal(as.numeric(trimws(outs)), 1:3)
  Sys.sleep(0.5)
  expect_equal(nwsFetch(ws, "job", timeout = 10), 4)
})

test_that("sessions pipeline: many workspace objects share one connection", {
  s <- nwsServer("127.0.0.1", test_port())
  on.exit(close(s))
  spaces <- lapply(1:20, function(i) nwsOpenWs(s, uniq_ws("many")))
  for (w in spaces) nwsStore(w, "x", nwsWsName(w))
  for (w in spaces) expect_equal(nwsFetch(w, "x"), nwsWsName(w))
})

test_that("the .Call shims in R/extendr-wrappers.R match the native library", {
  f <- file.path(nws_root(), "clients", "r", "R", "extendr-wrappers.R")
  skip_if_not(file.exists(f), "package sources not found")
  gen <- .Call("wrap__make_nws_wrappers", use_symbols = TRUE, package_name = "nws",
               PACKAGE = "nws")
  expect_true(grepl(trimws(gen, "right"), paste(readLines(f), collapse = "\n"), fixed = TRUE))
})
