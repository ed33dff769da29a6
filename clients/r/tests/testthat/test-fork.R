# Fork: parallel::mclapply children may use the workspace objects they
# inherit (each opens a session of its own on first use), and the parent's
# session is untouched by them.

test_that("mclapply children fetch and store through an inherited workspace", {
  skip_on_os("windows")
  ws <- test_ws("fork")
  for (i in 1:8) nwsStore(ws, "task", i)
  got <- parallel::mclapply(1:4, function(j) {
    a <- nwsFetch(ws, "task")
    b <- nwsFetch(ws, "task")
    nwsStore(ws, "result", a + b)
    c(a, b)
  }, mc.cores = 4)
  expect_equal(sort(unlist(got)), 1:8)
  results <- vapply(1:4, function(i) nwsFetch(ws, "result", timeout = 10), 0)
  expect_equal(sum(results), sum(1:8))
  # Every fetched value was acknowledged before the children exited:
  # nothing came back.
  Sys.sleep(0.3)
  expect_null(nwsFetchTry(ws, "task"))
})

test_that("children that exit right after a fetch have acknowledged it", {
  skip_on_os("windows")
  ws <- test_ws("fork")
  for (i in 1:6) nwsStore(ws, "task", i)
  # mclapply children end with _exit (no exit finalizers) right after the
  # fetch returns: the acknowledgement must already be out.
  got <- parallel::mclapply(1:6, function(j) nwsFetch(ws, "task"), mc.cores = 3)
  expect_setequal(unlist(got), 1:6)
  Sys.sleep(0.5)
  expect_null(nwsFetchTry(ws, "task"))
  got <- parallel::mclapply(1:2, function(j) nwsIFetchTry(ws, "more")(), mc.cores = 2)
  expect_true(all(vapply(got, is.null, TRUE)))
})

test_that("the parent's session keeps working after its children exit", {
  skip_on_os("windows")
  ws <- test_ws("fork")
  parallel::mclapply(1:3, function(j) nwsStore(ws, "x", j), mc.cores = 3)
  parallel::mclapply(1:3, function(j) nwsListVars(ws), mc.cores = 3)
  expect_setequal(vapply(1:3, function(i) nwsFetch(ws, "x"), 0), 1:3)
  nwsStore(ws, "after", "ok")
  expect_equal(nwsFetch(ws, "after"), "ok")
  # The parent still owns the workspace; the children owned nothing.
  l <- nwsListWss(nwsServerObject(ws), showDataFrame = TRUE)
  expect_true(l$Owned[l$Name == nwsWsName(ws)])
})

test_that("a child can block in a fetch that the parent answers", {
  skip_on_os("windows")
  ws <- test_ws("fork")
  job <- parallel::mcparallel(nwsFetch(ws, "request", timeout = 20))
  Sys.sleep(0.3)
  nwsStore(ws, "request", list(n = 7))
  res <- parallel::mccollect(job, wait = TRUE)
  expect_equal(res[[1]], list(n = 7))
})

test_that("iterators inherited by children keep their position", {
  skip_on_os("windows")
  ws <- test_ws("fork")
  for (i in 1:4) nwsStore(ws, "log", i)
  it <- nwsIFindTry(ws, "log")
  expect_equal(it(), 1)
  expect_equal(it(), 2)
  job <- parallel::mcparallel(c(it(), it()))
  got <- parallel::mccollect(job)[[1]]
  expect_equal(got, c(3, 4))
  expect_equal(it(), 3)
})
