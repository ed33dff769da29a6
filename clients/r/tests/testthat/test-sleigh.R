# sleigh(): the article's session in R, options, errors, fault tolerance,
# stopping (spec/sleigh.md). One 2-worker sleigh serves the tests that leave
# it intact; tests that kill workers or stop start their own.

# Functions sent to workers are given the global environment, as functions
# of a script have (a test's own environment holds the sleigh itself).
g <- function(f) {
  environment(f) <- globalenv()
  f
}

new_sleigh <- function(...) sleigh(nwsHost = "127.0.0.1", nwsPort = test_port(), ...)

.sl <- new.env()
shared_sleigh <- function() {
  if (is.null(.sl$s) || .sl$s@state$stopped) .sl$s <- new_sleigh(workerCount = 2)
  .sl$s
}

pid_alive <- function(pid) {
  st <- tryCatch(suppressWarnings(readLines(sprintf("/proc/%d/stat", pid), warn = FALSE)),
                 error = function(e) "")
  length(st) && nzchar(st) && !grepl("^[0-9]+ \\(.*\\) Z", st)
}

wait_gone <- function(pids, timeout = 5) {
  deadline <- proc.time()[[3]] + timeout
  repeat {
    left <- pids[vapply(pids, pid_alive, TRUE)]
    if (!length(left) || proc.time()[[3]] > deadline) return(left)
    Sys.sleep(0.05)
  }
}

worker_pids <- function(s) {
  status(s, timeout = 20)
  workerInfo(s)$pid
}

test_that("eachWorker runs once on every worker, in rank order", {
  s <- shared_sleigh()
  expect_equal(unlist(eachWorker(s, g(function() Sys.info()[["nodename"]]))),
               rep(Sys.info()[["nodename"]], 2))
  expect_equal(eachWorker(s, g(function() c(SleighRank, SleighWorkerCount))), list(c(0L, 2L), c(1L, 2L)))
  expect_equal(workerCount(s), 2)
})

test_that("eachElem returns the results in element order", {
  s <- shared_sleigh()
  r <- eachElem(s, g(function(x) x^3), 0:99)
  expect_length(r, 100)
  expect_equal(unlist(r[3:5]), c(8, 27, 64))
  expect_equal(unlist(r), (0:99)^3)
})

test_that("varying and fixed arguments, argPermute", {
  s <- shared_sleigh()
  f <- g(function(a, b, c) c(a, b, c))
  expect_equal(eachElem(s, f, list(1:3, 11:13), list(99)), list(c(1, 11, 99), c(2, 12, 99), c(3, 13, 99)))
  expect_equal(eachElem(s, f, list(1:2, 11:12), list(99), eo = list(argPermute = c(3, 1, 2))),
               list(c(99, 1, 11), c(99, 2, 12)))
})

test_that("an argument of length one is used for every task; unequal lengths are an error", {
  s <- shared_sleigh()
  expect_equal(unlist(eachElem(s, g(function(a, b) a + b), list(1:3, 10))), c(11, 12, 13))
  expect_error(eachElem(s, g(function(a, b) a + b), list(1:3, 1:2)), "unequal lengths",
               class = "sleighIllegalValue")
  expect_equal(eachElem(s, g(function(x) x), list()), list())
  expect_equal(eachElem(s, g(function(x) x), integer(0)), list())
})

test_that("matrices are split by row, column or cell", {
  s <- shared_sleigh()
  m <- matrix(1:6, nrow = 2)
  expect_equal(unlist(eachElem(s, g(function(r) sum(r)), list(m))), c(9, 12))
  expect_equal(unlist(eachElem(s, g(function(r) sum(r)), list(m), eo = list(by = "column"))), c(3, 7, 11))
  expect_equal(unlist(eachElem(s, g(function(r) r), list(m), eo = list(by = "cell"))), 1:6)
})

test_that("non-blocking calls report progress, then the results", {
  s <- shared_sleigh()
  p <- eachElem(s, g(function(x) { Sys.sleep(0.02); x }), 1:20, eo = list(blocking = FALSE))
  c1 <- checkSleigh(p)
  expect_equal(attr(c1, "total"), 20L)
  expect_equal(as.integer(c1), 20L - attr(c1, "done"))
  expect_error(eachElem(s, g(function(x) x), 1), class = "sleighOccupied")
  expect_equal(unlist(waitSleigh(p)), 1:20)
  expect_equal(as.integer(checkSleigh(p)), 0L)
  expect_error(waitSleigh(p), class = "sleighGathered")
  expect_equal(eachElem(s, g(function(x) -x), 1), list(-1))
  p <- eachWorker(s, g(function() SleighRank), eo = list(blocking = FALSE))
  expect_equal(waitSleigh(p), list(0L, 1L))
})

test_that("chunkSize, loadFactor and automatic chunking give the same results", {
  s <- shared_sleigh()
  want <- as.list((1:300) * 2)
  expect_equal(eachElem(s, g(function(x) x * 2), 1:300), want)
  expect_equal(eachElem(s, g(function(x) x * 2), 1:300, eo = list(chunkSize = 7)), want)
  expect_equal(eachElem(s, g(function(x) x * 2), 1:300, eo = list(chunkSize = 1, loadFactor = 2)), want)
})

test_that("workers keep state across tasks, and share the user workspace", {
  s <- shared_sleigh()
  eachWorker(s, g(function(start) counter <<- start), 1000)
  r <- unlist(eachElem(s, g(function(x) counter <<- counter + 1), 1:30, eo = list(chunkSize = 1)))
  expect_length(r, 30)
  expect_true(all(r > 1000))
  expect_equal(length(unique(r)) + sum(duplicated(r)), 30)
  nwsStore(s@userNws, "offset", 100)
  expect_equal(unlist(eachElem(s, g(function(i) nwsFind(SleighUserNws, "offset") + i), 1:3)), 101:103)
})

test_that("a blocking call can show a progress bar", {
  s <- shared_sleigh()
  out <- capture.output(r <- eachElem(s, g(function(x) x), 1:30, eo = list(progress = TRUE)), type = "message")
  expect_equal(unlist(r), 1:30)
  expect_match(paste(out, collapse = ""), "100%")
})

test_that("the web UI counts the tasks", {
  s <- shared_sleigh()
  before <- as.numeric(nwsFind(s@nws, "totalTasks"))
  eachElem(s, g(function(x) x), 1:10)
  expect_equal(as.numeric(nwsFind(s@nws, "totalTasks")), before + 10)
  expect_equal(nwsFind(s@nws, "doneTasks"), nwsFind(s@nws, "totalTasks"))
})

test_that("a task that signals an error stops the call with the worker's traceback", {
  s <- shared_sleigh()
  divide <- g(function(x) if (x == 0) stop("cannot divide by zero") else 10 / x)
  e <- tryCatch(eachElem(s, divide, c(5, 2, 0, 1)), error = function(e) e)
  expect_s3_class(e, "sleighTaskError")
  expect_equal(e$index, 3)
  expect_false(e$killed)
  expect_match(conditionMessage(e), "cannot divide by zero")
  expect_match(conditionMessage(e), "Worker traceback")
  expect_match(e$traceback, "FUN")
  expect_equal(unlist(eachElem(s, divide, c(5, 2))), c(2, 5))
  r <- eachElem(s, divide, c(5, 0, 2), eo = list(errors = "value"))
  expect_equal(r[[1]], 2)
  expect_s3_class(r[[2]], "sleighTaskError")
  expect_equal(r[[3]], 5)
  r <- eachWorker(s, g(function() if (SleighRank == 0) stop("no") else "yes"), eo = list(errors = "value"))
  expect_s3_class(r[[1]], "sleighTaskError")
  expect_equal(r[[2]], "yes")
})

test_that("a launch function starts one worker per node", {
  fake <- tempfile(fileext = ".sh")
  # Like ssh: the arguments after the host become one command for a shell.
  writeLines(c("#!/bin/sh", "shift", "exec sh -c \"$*\""), fake)
  Sys.chmod(fake, "755")
  launch <- function(host, options) c(fake, host)
  s <- new_sleigh(nodeList = c("hippo", "rhino"), launch = launch)
  on.exit(stopSleigh(s))
  expect_equal(eachWorker(s, g(function() SleighRank)), list(0L, 1L))
  expect_equal(workerInfo(s)$name, c("hippo", "rhino"))
  expect_equal(sshcmd("newt", list(user = "bob"))[-1], c("-n", "-x", "-o", "BatchMode=yes", "-l", "bob", "newt"))
})

test_that("a worker killed mid-task has its task run again", {
  s <- new_sleigh(workerCount = 2)
  on.exit(stopSleigh(s))
  pids <- worker_pids(s)
  killer <- processx::process$new("sh", c("-c", sprintf("sleep 0.6; kill -9 %d", pids[[1]])))
  r <- eachElem(s, g(function(x) { Sys.sleep(0.05); x * x }), 1:40)
  killer$wait()
  expect_equal(unlist(r), (1:40)^2)
  expect_equal(workerInfo(s)$alive, c(FALSE, TRUE))
})

test_that("a task that kills its workers fails after the retry limit", {
  s <- new_sleigh(workerCount = 3)
  on.exit(stopSleigh(s))
  poison <- g(function(x) if (x == 5) quit(save = "no", status = 1) else x)
  r <- eachElem(s, poison, 1:8, eo = list(errors = "value"))
  expect_equal(unlist(r[-5]), c(1:4, 6:8))
  expect_s3_class(r[[5]], "sleighTaskError")
  expect_true(r[[5]]$killed)
  expect_match(conditionMessage(r[[5]]), "maxRetries=1")
  expect_equal(sum(workerInfo(s)$alive), 1)
  expect_equal(eachElem(s, g(function(x) x), 3), list(3))
  expect_error(eachElem(s, poison, 5), class = "sleighNoWorkers")
})

test_that("stopSleigh leaves no worker processes", {
  s <- new_sleigh(workerCount = 2)
  pids <- worker_pids(s)
  p <- eachElem(s, g(function(x) Sys.sleep(x)), c(30, 30), eo = list(blocking = FALSE))
  Sys.sleep(0.3)
  stopSleigh(s)
  expect_length(wait_gone(pids), 0)
  expect_error(waitSleigh(p), class = "sleighStopped")
  expect_error(eachElem(s, g(function(x) x), 1), class = "sleighStopped")
})

test_that("the end of the master leaves no workers", {
  prog <- r_program(
    "library(nws)",
    sprintf("s <- sleigh(workerCount = 2, nwsHost = '127.0.0.1', nwsPort = %d)", test_port()),
    "status(s, timeout = 20)",
    "cat(workerInfo(s)$pid, '\\n')")
  out <- system2(rscript(), c("--vanilla", prog), stdout = TRUE, stderr = TRUE,
                 env = paste0("R_LIBS=", paste(.libPaths(), collapse = ":")))
  pids <- as.integer(strsplit(trimws(out[[length(out)]]), " +")[[1]])
  expect_length(pids, 2)
  expect_length(wait_gone(pids), 0)
})

test_that("the example programs give their expected output", {
  ex <- file.path(nws_root(), "examples", "r")
  run <- function(...) {
    system2(rscript(), c("--vanilla", ...), stdout = TRUE, stderr = FALSE,
            env = c(sprintf("NWS_HOST=127.0.0.1"), sprintf("NWS_PORT=%d", test_port()),
                    paste0("R_LIBS=", paste(.libPaths(), collapse = ":"))))
  }
  expect_equal(run(file.path(ex, "sleigh_cubes.R")), c(
    sprintf("workers: 3 on %s ", Sys.info()[["nodename"]]),
    "cubes: 100 r[3:5] = 8 27 64 last = 970299 ",
    "f(1,11,99), f(2,12,99), f(3,13,99) = 111 113 115 ",
    "non-blocking: 100 tasks submitted",
    "non-blocking: outstanding after wait: 0 same table: TRUE "))
  expect_equal(run(file.path(ex, "sleigh_primes.R"), "3", "100000", "1000"),
               "9592 [ 2, 3, 5 ] ... [ 99971, 99989, 99991 ]")
  expect_equal(run(file.path(ex, "sleigh_pi.R")), c("darts: 1000000, inside: 785131", "pi is about 3.1405"))
  expect_equal(run(file.path(ex, "sleigh_pi.R"), "1"), c("darts: 1000000, inside: 785131", "pi is about 3.1405"))
})

test_that("the shared sleigh stops", {
  if (!is.null(.sl$s)) {
    pids <- worker_pids(.sl$s)
    stopSleigh(.sl$s)
    expect_length(wait_gone(pids[!is.na(pids)]), 0)
  }
  succeed()
})
