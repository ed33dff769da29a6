# The R NWS client, measured: store+fetch pairs/s from one R process, and
# ping-pong round trips/s between two R processes, side by side with R's own
# socket round trip (a parallel/snow PSOCK cluster call) in the same run.
#
#   Rscript bench/r_bench.R [--seconds S] [--repeats N] [--placements LIST]
#                           [--spin US] [--json FILE]
#
# Starts an nws-server (target/release/nws-server, or $NWS_SERVER_BIN) on a
# free loopback port and stops it at the end. Placements (taskset): "same"
# (server and R processes on CPU 0), "cross" (server on CPU 0, R processes on
# CPU 1), "unpinned"; default all three. Each figure is the median of N runs
# of S seconds (defaults 3 and 1). --spin sets the client's busy-poll
# budget (NWS_SPIN_US, microseconds; default 0 = off) in both R processes.
# Needs the installed nws package and processx (scripts/r.sh installs both;
# `scripts/r.sh bench` runs this).
#
# Benchmarks:
#   pairs-raw    nwsStore + nwsFetch of a 16-byte raw vector, one variable
#   pairs-robj   the same with a double (serialize()d, codec r/serialize)
#   pingpong     round trips between two R processes: A stores ping, B
#                (blocked in nwsFetch) stores pong, A fetches it
#   psock        R's own: parallel::clusterCall(cl, function() NULL) on a
#                one-worker PSOCK cluster (a serialize() round trip over a
#                socket, no server in between; the worker is pinned where the
#                server would be); the peer for pingpong
# Targets (issue 4): pairs >= 5,000/s; pingpong >= 3,000/s.

suppressPackageStartupMessages({
  library(nws)
  library(processx)
})

args <- commandArgs(trailingOnly = TRUE)
opt <- function(name, default) {
  i <- match(paste0("--", name), args)
  if (is.na(i) || i == length(args)) default else args[[i + 1L]]
}
SECONDS <- as.numeric(opt("seconds", "1"))
REPEATS <- as.integer(opt("repeats", "3"))
PLACEMENTS <- strsplit(opt("placements", "same,cross,unpinned"), ",")[[1]]
JSON <- opt("json", "")
SPIN <- as.numeric(opt("spin", Sys.getenv("NWS_SPIN_US", "0")))
Sys.setenv(NWS_SPIN_US = SPIN)
TARGETS <- c("pairs-raw" = 5000, "pairs-robj" = 5000, "pingpong" = 3000, "psock" = NA)

file_arg <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE)[1])
root <- normalizePath(file.path(dirname(file_arg), ".."))
server_bin <- Sys.getenv("NWS_SERVER_BIN", "")
if (!nzchar(server_bin)) {
  td <- Sys.getenv("CARGO_TARGET_DIR", file.path(root, "target"))
  server_bin <- file.path(td, "release", "nws-server")
}
if (!file.exists(server_bin)) stop("no nws-server at ", server_bin, " (cargo build --release -p nws-server)")
has_taskset <- nzchar(Sys.which("taskset"))
if (!has_taskset) PLACEMENTS <- "unpinned"
rscript <- file.path(R.home("bin"), "Rscript")

# CPU sets for the server and the R processes of a placement.
cpus <- function(placement) switch(placement,
  same = c(server = "0", client = "0"),
  cross = c(server = "0", client = "1"),
  unpinned = c(server = "", client = ""))

pin <- function(pid, cpu) {
  if (nzchar(cpu)) system2("taskset", c("-a", "-p", "-c", cpu, pid), stdout = FALSE, stderr = FALSE)
}
unpin_all <- "0-1023"

start_server <- function() {
  log <- tempfile("nws-server-", fileext = ".log")
  p <- process$new(server_bin, c("--bind", "127.0.0.1", "--port", "0", "--web-port", "0",
                                 "--log-level", "warn,nws_server=info"),
                   stdout = log, stderr = "2>&1", env = c("current", NO_COLOR = "1"), cleanup = TRUE)
  for (i in 1:400) {
    txt <- if (file.exists(log)) readLines(log, warn = FALSE) else character()
    m <- regmatches(txt, regexpr("listening on 127\\.0\\.0\\.1:[0-9]+", txt))
    if (length(m)) return(list(p = p, port = as.integer(sub(".*:", "", m[[1]]))))
    if (!p$is_alive()) stop("nws-server exited: ", paste(txt, collapse = "\n"))
    Sys.sleep(0.025)
  }
  stop("nws-server did not report its port")
}

# Runs `step` (one operation) for about SECONDS; operations per second.
rate <- function(step, batch = 200L) {
  for (i in seq_len(50L)) step()
  n <- 0L
  t0 <- proc.time()[["elapsed"]]
  repeat {
    for (i in seq_len(batch)) step()
    n <- n + batch
    el <- proc.time()[["elapsed"]] - t0
    if (el >= SECONDS) return(n / el)
  }
}

payload <- charToRaw("0123456789abcdef")

bench_pairs <- function(ws, value) {
  rate(function() {
    nwsStore(ws, "pair", value)
    nwsFetch(ws, "pair")
  })
}

pong_program <- function(ws_name, port) {
  f <- tempfile("pong-", fileext = ".R")
  writeLines(c(
    "suppressPackageStartupMessages(library(nws))",
    sprintf("ws <- netWorkSpace('%s', '127.0.0.1', %d, useUse = TRUE)", ws_name, port),
    "cat('ready\\n'); flush(stdout())",
    "repeat {",
    "  v <- nwsFetch(ws, 'ping')",
    "  if (identical(v, 'stop')) break",
    "  nwsStore(ws, 'pong', v)",
    "}"), f)
  f
}

bench_pingpong <- function(ws, port, cpu) {
  prog <- pong_program(nwsWsName(ws), port)
  b <- process$new(rscript, prog, stdout = "|", stderr = "|", cleanup = TRUE)
  on.exit({ if (b$is_alive()) b$kill() })
  pin(b$get_pid(), cpu)
  for (i in 1:200) {
    b$poll_io(100)
    if (any(grepl("ready", b$read_output_lines()))) break
    if (!b$is_alive()) stop("pong process died: ", b$read_all_error())
  }
  r <- rate(function() {
    nwsStore(ws, "ping", payload)
    nwsFetch(ws, "pong")
  })
  nwsStore(ws, "ping", "stop")
  b$wait(5000)
  r
}

bench_psock <- function(cpu) {
  cl <- parallel::makePSOCKcluster(1)
  on.exit(parallel::stopCluster(cl))
  pin(parallel::clusterCall(cl, Sys.getpid)[[1]], cpu)
  f <- function() NULL
  rate(function() parallel::clusterCall(cl, f), batch = 100L)
}

results <- list()
srv <- start_server()
on.exit(srv$p$kill(), add = TRUE)
cat(sprintf("r_bench: nws-server pid %d on 127.0.0.1:%d; R %s, nws %s; %d x %.1f s per figure; spin %g us\n",
            srv$p$get_pid(), srv$port, getRversion(), packageVersion("nws"), REPEATS, SECONDS, SPIN))

for (placement in PLACEMENTS) {
  cp <- cpus(placement)
  pin(srv$p$get_pid(), if (nzchar(cp[["server"]])) cp[["server"]] else if (has_taskset) unpin_all else "")
  pin(Sys.getpid(), if (nzchar(cp[["client"]])) cp[["client"]] else if (has_taskset) unpin_all else "")
  ws <- netWorkSpace(sprintf("r-bench-%s-%d", placement, Sys.getpid()), "127.0.0.1", srv$port)
  runs <- list(`pairs-raw` = c(), `pairs-robj` = c(), pingpong = c(), psock = c())
  for (r in seq_len(REPEATS)) {
    # Interleaved, so drifting load hits every figure alike.
    runs$`pairs-raw` <- c(runs$`pairs-raw`, bench_pairs(ws, payload))
    runs$`pairs-robj` <- c(runs$`pairs-robj`, bench_pairs(ws, pi))
    runs$pingpong <- c(runs$pingpong, bench_pingpong(ws, srv$port, cp[["client"]]))
    # PSOCK has no server: its worker takes the server's place (across the
    # vCPUs from the master in "cross", beside it in "same").
    runs$psock <- c(runs$psock, bench_psock(cp[["server"]]))
  }
  nwsClose(ws)
  for (name in names(runs)) {
    results[[length(results) + 1L]] <- data.frame(
      placement = placement, benchmark = name, median = median(runs[[name]]),
      min = min(runs[[name]]), max = max(runs[[name]]), target = TARGETS[[name]])
  }
}
pin(Sys.getpid(), if (has_taskset) unpin_all else "")

tab <- do.call(rbind, results)
cat("\n| placement | benchmark | ops/s (median) | min | max | target | vs psock |\n")
cat("|---|---|---:|---:|---:|---:|---:|\n")
for (i in seq_len(nrow(tab))) {
  row <- tab[i, ]
  ps <- tab$median[tab$placement == row$placement & tab$benchmark == "psock"]
  vs <- if (row$benchmark == "pingpong" && length(ps)) sprintf("%.2fx", row$median / ps) else ""
  tgt <- if (is.na(row$target)) "" else sprintf("%s %s", format(row$target, big.mark = ","),
                                                if (row$median >= row$target) "met" else "MISSED")
  cat(sprintf("| %s | %s | %s | %s | %s | %s | %s |\n", row$placement, row$benchmark,
              format(round(row$median), big.mark = ","), format(round(row$min), big.mark = ","),
              format(round(row$max), big.mark = ","), tgt, vs))
}
if (nzchar(JSON)) {
  rows <- vapply(seq_len(nrow(tab)), function(i) with(tab[i, ], sprintf(
    '{"placement": "%s", "benchmark": "%s", "median": %.1f, "min": %.1f, "max": %.1f}',
    placement, benchmark, median, min, max)), "")
  writeLines(c("[", paste(rows, collapse = ",\n"), "]"), JSON)
}
