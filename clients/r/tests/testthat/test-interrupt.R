# Interrupts: Ctrl-C (SIGINT) ends a blocked call cleanly. The request is
# withdrawn on the server (no waiter is left, no value is lost), the session
# keeps working, and R sees an ordinary interrupt.

test_that("SIGINT ends a blocked nwsFetch with an interrupt condition", {
  skip_on_os("windows")
  ws <- test_ws("intr")
  killer <- interrupt_me_after(0.5)
  t0 <- Sys.time()
  got <- tryCatch(nwsFetch(ws, "never", timeout = 20),
                  interrupt = function(e) "interrupted",
                  error = function(e) conditionMessage(e))
  expect_equal(got, "interrupted")
  expect_lt(as.numeric(Sys.time() - t0, units = "secs"), 10)
  killer$wait(5000)
  # The fetch was withdrawn: no waiter is left, and a value stored now stays.
  expect_equal(nwsListVars(ws), "")
  nwsStore(ws, "never", "kept")
  expect_equal(nwsFindTry(ws, "never"), "kept")
  # The session still works.
  nwsStore(ws, "x", 1)
  expect_equal(nwsFetch(ws, "x"), 1)
})

test_that("SIGINT ends a blocked iterator step and the iterator can go on", {
  skip_on_os("windows")
  ws <- test_ws("intr")
  it <- nwsIFetch(ws, "queue")
  killer <- interrupt_me_after(0.5)
  got <- tryCatch(it(), interrupt = function(e) "interrupted")
  expect_equal(got, "interrupted")
  killer$wait(5000)
  nwsStore(ws, "queue", "next")
  expect_equal(it(), "next")
})

test_that("an interrupted Rscript (processx $interrupt) withdraws its fetch and goes on", {
  skip_on_os("windows")
  ws <- test_ws("intr")
  prog <- r_program(
    "library(nws)",
    sprintf("ws <- netWorkSpace('%s', useUse = TRUE)", nwsWsName(ws)),
    "cat('blocked\\n'); flush(stdout())",
    "r <- tryCatch(nwsFetch(ws, 'task'), interrupt = function(e) 'interrupted')",
    "cat(r, '\\n')",
    "nwsStore(ws, 'after', 'alive')",
    "cat(nwsFetch(ws, 'after'), '\\n')")
  p <- start_r(prog)
  wait_for_line(p, "blocked")
  # Wait until the fetch is registered on the server, then interrupt.
  for (i in 1:100) {
    l <- nwsListVars(ws, showDataFrame = TRUE)
    if (any(l$Variable == "task" & l$NumFetchers == 1)) break
    Sys.sleep(0.05)
  }
  p$interrupt()
  p$wait(20000)
  out <- p$read_all_output()
  expect_equal(p$get_exit_status(), 0)
  expect_match(out, "interrupted")
  expect_match(out, "alive")
  # Its fetch is gone: a task stored now is not consumed by anyone.
  nwsStore(ws, "task", "t1")
  expect_equal(nwsFetchTry(ws, "task"), "t1")
})

test_that("an uncaught interrupt stops a blocked Rscript promptly", {
  skip_on_os("windows")
  ws <- test_ws("intr")
  prog <- r_program(
    "library(nws)",
    sprintf("ws <- netWorkSpace('%s', useUse = TRUE)", nwsWsName(ws)),
    "cat('blocked\\n'); flush(stdout())",
    "nwsFetch(ws, 'never')",
    "cat('not reached\\n')")
  p <- start_r(prog)
  wait_for_line(p, "blocked")
  Sys.sleep(0.3)
  t0 <- Sys.time()
  p$interrupt()
  p$wait(10000)
  expect_false(p$is_alive())
  expect_lt(as.numeric(Sys.time() - t0, units = "secs"), 5)
  expect_false(grepl("not reached", p$read_all_output()))
  expect_true(p$get_exit_status() != 0)
})
