# The R side of bench/sleigh_bench.py: nws sleigh() against the parallel
# package (clusterApplyLB: one task per message; parLapplyLB: chunked), 2
# workers each. Run by sleigh_bench.py (which starts the server and passes
# NWS_HOST/NWS_PORT), or by hand against a running server:
#
#   Rscript bench/sleigh_bench.R [--tasks N] [--repeats K] [--kill-timeout S] [--json FILE]
#
# Cases as in the Python script: dispatch and chunked tasks/s for N trivial
# tasks, 2-worker start-up (s), speed-up over serial of 2,000 tasks of ~1 ms,
# and the kill test (kill -9 one of two workers 1 s into 200 x 50 ms tasks).
suppressPackageStartupMessages({
  library(nws)
  library(parallel)
})

args <- commandArgs(TRUE)
opt <- function(name, default) {
  i <- match(paste0("--", name), args)
  if (is.na(i)) default else args[[i + 1L]]
}
ntasks <- as.integer(opt("tasks", 10000))
repeats <- as.integer(opt("repeats", 3))
killTimeout <- as.numeric(opt("kill-timeout", 30))
jsonFile <- opt("json", "")

now <- function() proc.time()[["elapsed"]]
med <- function(x) stats::median(unlist(x))

triv <- function(x) x
countPrimes <- function(lo, width) {
  n <- 0L
  for (x in lo:(lo + width - 1L)) {
    if (x < 2L) next
    lim <- floor(sqrt(x))
    if (lim < 2L || all(x %% 2L:lim != 0L)) n <- n + 1L
  }
  n
}
nap <- function(x) {
  Sys.sleep(0.05)
  x * x
}

calibrate <- function(from = 100000L) {
  width <- 40L
  for (i in 1:4) {
    t <- now()
    for (lo in seq(from, by = width, length.out = 100)) countPrimes(lo, width)
    per <- (now() - t) / 100
    width <- max(5L, as.integer(width * 0.001 / max(per, 1e-6)))
  }
  width
}

# --- contenders: start(n), map(h, f, xs, chunked), pids(h), stop(h) ---------

sleighC <- list(
  name = "nws sleigh",
  start = function(n) {
    s <- sleigh(workerCount = n)
    eachWorker(s, function() 0)
    s
  },
  # elementArgs: one argument, whose elements are those of the list xs.
  map = function(h, f, xs, chunked) eachElem(h, f, list(xs), eo = if (chunked) NULL else list(chunkSize = 1)),
  pids = function(h) {
    status(h, timeout = 10)
    workerInfo(h)$pid
  },
  stop = function(h) stopSleigh(h))

parallelC <- function(name, chunkedFun, dispatchFun) list(
  name = name,
  start = function(n) {
    cl <- makePSOCKcluster(n)
    clusterCall(cl, function() 0)
    cl
  },
  map = function(h, f, xs, chunked) if (chunked) chunkedFun(h, xs, f) else dispatchFun(h, xs, f),
  pids = function(h) unlist(clusterCall(h, Sys.getpid)),
  stop = function(h) try(stopCluster(h), silent = TRUE))

contenders <- list(
  sleighC,
  parallelC("parallel::clusterApplyLB / parLapplyLB",
            function(cl, xs, f) parLapplyLB(cl, xs, f),
            function(cl, xs, f) clusterApplyLB(cl, xs, f)))

rate <- function(c, h, f, xs, chunked) {
  rs <- lapply(seq_len(repeats), function(i) {
    t <- now()
    r <- c$map(h, f, xs, chunked)
    dt <- now() - t
    stopifnot(identical(unlist(r), unlist(lapply(xs, f))))
    length(xs) / dt
  })
  med(rs)
}

killTest <- function(c) {
  h <- c$start(2)
  on.exit(try(c$stop(h), silent = TRUE))
  pids <- c$pids(h)
  killer <- processx::process$new("sh", c("-c", sprintf("sleep 1; kill -9 %d", pids[[1]])))
  t <- now()
  # A blocked parallel worker is read with the cluster's timeout: bound it.
  r <- tryCatch({
    setTimeLimit(elapsed = killTimeout, transient = TRUE)
    on.exit(setTimeLimit(), add = TRUE)
    c$map(h, nap, 1:200, FALSE)
  }, error = function(e) e)
  setTimeLimit()
  dt <- now() - t
  killer$wait()
  if (inherits(r, "error")) {
    msg <- conditionMessage(r)
    if (grepl("time limit", msg)) return(sprintf("hung (no result after %.0f s)", killTimeout))
    return(sprintf("failed: %s", strsplit(msg, "\n")[[1]][[1]]))
  }
  ok <- isTRUE(all.equal(as.numeric(unlist(r)), (1:200)^2))
  sprintf("%s in %.1f s", if (ok) "finished, correct" else "finished, WRONG results", dt)
}

width <- calibrate()
los <- seq(100000L, by = width, length.out = 2000)
t <- now()
want <- vapply(los, countPrimes, 1L, width = width)
serial <- now() - t

out <- list()
for (c in contenders) {
  message("bench (R): ", c$name, " ...")
  res <- list()
  h <- c$start(2)
  xs <- as.list(seq_len(ntasks))
  c$map(h, triv, xs[1:200], TRUE)
  res$dispatch <- rate(c, h, triv, xs, FALSE)
  message("bench (R):   dispatch ", round(res$dispatch), " tasks/s")
  res$chunked <- rate(c, h, triv, xs, TRUE)
  message("bench (R):   chunked ", round(res$chunked), " tasks/s")
  f <- local({ w <- width; function(lo) countPrimes(lo, w) })
  environment(f) <- list2env(list(w = width, countPrimes = countPrimes), parent = globalenv())
  # Serial and parallel runs alternate (a drifting machine load hits both);
  # the speed-up is the median of the per-repeat ratios.
  ratios <- lapply(seq_len(repeats), function(i) {
    t <- now()
    vapply(los, countPrimes, 1L, width = width)
    ser <- now() - t
    t <- now()
    got <- c$map(h, f, as.list(los), TRUE)
    stopifnot(identical(as.integer(unlist(got)), want))
    ser / (now() - t)
  })
  res$speedup <- med(ratios)
  message("bench (R):   primes speed-up ", round(res$speedup, 2))
  c$stop(h)
  res$startup <- med(lapply(seq_len(repeats), function(i) {
    t <- now()
    h <- c$start(2)
    dt <- now() - t
    c$stop(h)
    dt
  }))
  res$kill <- killTest(c)
  out[[c$name]] <- res
  message("bench (R): ", c$name, ": ", paste(names(res), unlist(res), sep = "=", collapse = ", "))
}

# A small JSON writer (jsonlite is optional).
js <- function(x) {
  if (is.list(x)) {
    paste0("{", paste(sprintf("\"%s\": %s", names(x), vapply(x, js, "")), collapse = ", "), "}")
  } else if (is.character(x)) {
    sprintf("\"%s\"", gsub("\"", "\\\\\"", x))
  } else format(x, digits = 6)
}
doc <- js(list(contenders = out, serial_s = serial, primes_width = width))
if (nzchar(jsonFile)) writeLines(doc, jsonFile) else cat(doc, "\n")
