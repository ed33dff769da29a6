# Test helpers: a real nws-server started once per test run on a free port
# (processx), unique workspace names, and running R or Python programs as
# separate processes.

library(nws)

# The repository root: tests/testthat -> clients/r -> clients -> root.
nws_root <- function() {
  r <- Sys.getenv("NWS_ROOT", "")
  if (nzchar(r)) return(r)
  normalizePath(file.path(testthat::test_path(), "..", "..", "..", ".."), mustWork = FALSE)
}

nws_server_bin <- function() {
  b <- Sys.getenv("NWS_SERVER_BIN", "")
  if (nzchar(b)) return(b)
  td <- Sys.getenv("CARGO_TARGET_DIR", "")
  if (!nzchar(td)) td <- file.path(nws_root(), "target")
  file.path(td, "release", "nws-server")
}

rscript <- function() file.path(R.home("bin"), "Rscript")

.nws_test <- new.env()

# Starts an nws-server on 127.0.0.1, a free port; list(process, port, log).
start_server <- function(extra = character()) {
  bin <- nws_server_bin()
  if (!file.exists(bin))
    stop("no nws-server at ", bin, " (cargo build --release -p nws-server)")
  log <- tempfile("nws-server-", fileext = ".log")
  p <- processx::process$new(
    bin, c("--bind", "127.0.0.1", "--port", "0", "--web-port", "0", extra),
    stdout = log, stderr = "2>&1", env = c("current", NO_COLOR = "1"),
    cleanup = TRUE, cleanup_tree = TRUE)
  for (i in 1:400) {
    txt <- if (file.exists(log)) readLines(log, warn = FALSE) else character()
    m <- regmatches(txt, regexpr("listening on 127\\.0\\.0\\.1:[0-9]+", txt))
    if (length(m)) {
      return(list(process = p, port = as.integer(sub(".*:", "", m[[1]])), log = log))
    }
    if (!p$is_alive()) stop("nws-server exited: ", paste(txt, collapse = "\n"))
    Sys.sleep(0.025)
  }
  p$kill()
  stop("nws-server did not report its port")
}

# The server shared by the tests of this run.
test_port <- function() {
  s <- .nws_test$server
  if (is.null(s) || !s$process$is_alive()) {
    s <- start_server()
    .nws_test$server <- s
  }
  s$port
}

stop_test_server <- function() {
  s <- .nws_test$server
  if (!is.null(s)) s$process$kill()
  .nws_test$server <- NULL
}

# A workspace name no other test uses.
uniq_ws <- function(prefix = "t") {
  .nws_test$n <- (if (is.null(.nws_test$n)) 0 else .nws_test$n) + 1
  sprintf("%s-%d-%d", prefix, Sys.getpid(), .nws_test$n)
}

# Opens (and owns) a fresh workspace on the test server.
test_ws <- function(prefix = "t") netWorkSpace(uniq_ws(prefix), "127.0.0.1", test_port())

# Writes an R program to a temporary file (lines joined) and returns its path.
r_program <- function(...) {
  f <- tempfile("nws-prog-", fileext = ".R")
  writeLines(c(...), f)
  f
}

# Runs an R program to completion; processx::run's result.
run_r <- function(file, args = character(), timeout = 60) {
  processx::run(rscript(), c(file, args), error_on_status = FALSE, timeout = timeout,
                env = c("current", NWS_HOST = "127.0.0.1", NWS_PORT = test_port()))
}

# Starts an R program in the background; the processx process.
start_r <- function(file, args = character()) {
  processx::process$new(rscript(), c(file, args), stdout = "|", stderr = "|",
                        env = c("current", NWS_HOST = "127.0.0.1", NWS_PORT = test_port()),
                        cleanup = TRUE)
}

# Reads a background process's stdout until a line matches `pattern`.
wait_for_line <- function(p, pattern, timeout = 30) {
  seen <- character()
  deadline <- Sys.time() + timeout
  while (Sys.time() < deadline) {
    p$poll_io(200)
    seen <- c(seen, p$read_output_lines())
    if (any(grepl(pattern, seen))) return(seen)
    if (!p$is_alive()) {
      seen <- c(seen, p$read_output_lines())
      if (any(grepl(pattern, seen))) return(seen)
      stop("process exited before printing ", pattern, ":\n", paste(seen, collapse = "\n"),
           "\n", p$read_all_error())
    }
  }
  stop("timed out waiting for ", pattern, "; saw:\n", paste(seen, collapse = "\n"))
}

# A Python with the project's client (nws.client), or NULL.
python_with_nws <- function() {
  cands <- c(Sys.getenv("NWS_PYTHON", ""), file.path(nws_root(), ".venv", "bin", "python"),
             Sys.which("python3"))
  for (py in unique(cands[nzchar(cands)])) {
    if (!file.exists(py)) next
    ok <- tryCatch(processx::run(py, c("-c", "import nws.client"), error_on_status = FALSE,
                                 timeout = 30)$status == 0, error = function(e) FALSE)
    if (ok) return(py)
  }
  NULL
}

# Signals SIGINT to this R process after `delay` seconds.
interrupt_me_after <- function(delay) {
  processx::process$new("sh", c("-c", sprintf("sleep %s; kill -INT %d", delay, Sys.getpid())),
                        cleanup = TRUE)
}

# The wire form of the next value of a variable, via the native layer:
# "text", "raw" or the blob's codec. Consumes the value.
wire_kind <- function(ws, var) {
  v <- nws:::nws_retrieve(ws@server@session, nwsWsName(ws), var, 0L, 5)
  if (is.character(v)) "text" else if (is.null(attr(v, "codec"))) "raw" else attr(v, "codec")
}
