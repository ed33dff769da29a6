# Conditions: every failure is an R condition of class
# nws_error_<reason>, nws_error, error, condition, raised from the user's
# call (spec/errors.md#client-mapping).

expect_nws_error <- function(expr, reason) {
  e <- tryCatch(expr, error = function(e) e)
  expect_s3_class(e, paste0("nws_error_", tolower(reason)))
  expect_s3_class(e, "nws_error")
  expect_s3_class(e, "error")
  expect_equal(e$reason, reason)
  invisible(e)
}

test_that("a fetch that times out raises nws_error_timed_out naming the call", {
  ws <- test_ws("cond")
  e <- expect_nws_error(nwsFetch(ws, "nothing", timeout = 0.05), "TIMED_OUT")
  expect_equal(deparse(conditionCall(e)), 'nwsFetch(ws, "nothing", timeout = 0.05)')
  expect_match(conditionMessage(e), "nothing")
  expect_nws_error(nwsFind(ws, "nothing", timeout = 0), "TIMED_OUT")
  # Nothing was left behind: the variable does not exist.
  expect_equal(nwsListVars(ws), "")
})

test_that("declaring another mode raises nws_error_mode_conflict", {
  ws <- test_ws("cond")
  nwsDeclare(ws, "s", "single")
  e <- expect_nws_error(nwsDeclare(ws, "s", "fifo"), "MODE_CONFLICT")
  expect_match(conditionMessage(e), "s")
  expect_error(nwsDeclare(ws, "s", "single"), NA)
})

test_that("an unknown mode raises nws_error_invalid_mode", {
  ws <- test_ws("cond")
  expect_nws_error(nwsDeclare(ws, "x", "stack"), "INVALID_MODE")
})

test_that("a bad name raises nws_error_invalid_name", {
  ws <- test_ws("cond")
  expect_nws_error(nwsStore(ws, "", 1), "INVALID_NAME")
  expect_nws_error(nwsStore(ws, "a\nb", 1), "INVALID_NAME")
})

test_that("a missing workspace raises nws_error_no_such_workspace", {
  s <- nwsServer("127.0.0.1", test_port())
  on.exit(nwsClose(s))
  expect_nws_error(nwsUseWs(s, uniq_ws("missing"), create = FALSE), "NO_SUCH_WORKSPACE")
  expect_nws_error(nwsDeleteWs(s, uniq_ws("missing")), "NO_SUCH_WORKSPACE")
  ws <- nwsUseWs(s, uniq_ws("gone"))
  nwsDeleteWs(s, nwsWsName(ws))
  expect_nws_error(nwsStore(ws, "x", 1), "NO_SUCH_WORKSPACE")
})

test_that("an iterator over a LIFO variable raises nws_error_iterator_mode", {
  ws <- test_ws("cond")
  nwsDeclare(ws, "stack", "lifo")
  nwsStore(ws, "stack", 1)
  it <- nwsIFindTry(ws, "stack")
  expect_nws_error(it(), "ITERATOR_MODE")
})

test_that("deleting a variable wakes a waiting fetch with nws_error_variable_deleted", {
  skip_on_os("windows")
  ws <- test_ws("cond")
  job <- parallel::mcparallel({
    # Delete once the parent's fetch waits.
    for (i in 1:200) {
      l <- nwsListVars(ws, showDataFrame = TRUE)
      if (any(l$Variable == "v" & l$NumFetchers == 1)) break
      Sys.sleep(0.05)
    }
    nwsDeleteVar(ws, "v")
  })
  e <- expect_nws_error(nwsFetch(ws, "v", timeout = 20), "VARIABLE_DELETED")
  parallel::mccollect(job)
})

test_that("an unreachable server raises nws_error_connect from the constructor", {
  # A port nothing listens on: a server that was started and stopped.
  s <- start_server()
  port <- s$port
  s$process$kill()
  s$process$wait(5000)
  e <- expect_nws_error(netWorkSpace("x", "127.0.0.1", port), "CONNECT")
  expect_equal(deparse(conditionCall(e)), 'netWorkSpace("x", "127.0.0.1", port)')
  expect_match(conditionMessage(e), as.character(port))
})

test_that("calls on a closed session raise nws_error_disconnected", {
  ws <- test_ws("cond")
  nwsClose(ws)
  expect_nws_error(nwsStore(ws, "x", 1), "DISCONNECTED")
  expect_nws_error(nwsFetchTry(ws, "x"), "DISCONNECTED")
  expect_error(nwsClose(ws), NA)
})

test_that("a server that goes away fails calls with nws_error_disconnected", {
  s <- start_server()
  ws <- netWorkSpace("x", "127.0.0.1", s$port)
  nwsStore(ws, "v", 1)
  s$process$kill()
  s$process$wait(5000)
  expect_nws_error(nwsFetch(ws, "v", timeout = 10), "DISCONNECTED")
})

test_that("wrong argument types are R errors found before anything is sent", {
  ws <- test_ws("cond")
  e <- tryCatch(nwsStore(ws, 42, 1), error = function(e) e)
  expect_false(inherits(e, "nws_error"))
  expect_match(conditionMessage(e), "xName must be a character string")
  expect_equal(deparse(conditionCall(e)), "nwsStore(ws, 42, 1)")
  expect_error(nwsStore(ws, "x"), "no value specified for xVal")
  expect_error(nwsFetch(ws, c("a", "b")), "xName must be a character string")
  expect_error(nwsFetch(ws, "a", timeout = -1), "timeout must be")
  expect_error(netWorkSpace("x", "127.0.0.1", test_port(), nonsense = TRUE), "unused argument")
  expect_error(nwsServer("127.0.0.1", port = 70000), "port must be")
})

test_that("nws conditions can be caught by class", {
  ws <- test_ws("cond")
  got <- tryCatch(nwsFetch(ws, "x", timeout = 0),
                  nws_error_timed_out = function(e) "timed out",
                  nws_error = function(e) "other")
  expect_equal(got, "timed out")
})
