# sleigh: a parallel map over R worker processes coordinated through NWS
# (spec/sleigh.md). API and option names as in the original package (cran/nws
# 1.7): sleigh(), eachWorker(), eachElem(), checkSleigh(), waitSleigh(),
# stopSleigh(), rankCount(), workerCount(), workerInfo(), sshcmd(); the
# behaviour shared with Python's nws.sleigh (argument lengths, result order,
# errors, retries) and the workspace variables are specified in
# spec/sleigh.md.
#
# The master is single-threaded: it reads the workers' messages while a
# blocking call waits, and in checkSleigh()/waitSleigh(). Workers run
# .sleighWorkerMain() (Rscript -e 'nws:::.sleighWorkerMain()' --args ...).

# --- names of the protocol (spec/sleigh.md#variables) -------------------------

.SL_TASK <- "task"
.SL_RESULT <- "result"
.SL_WORKER_INFO <- "worker info"
.SL_MASTER_INFO <- "master info"
.slFunctionVar <- function(job) paste("function", job)
.slBarrierVar <- function(job) paste("barrier", job)
.slAliveVar <- function(rank) paste("alive", rank)

# The duration a chunk aims at under automatic chunking (s), and how often
# the master looks at its workers while it waits (s).
.SL_CHUNK_TARGET <- 0.02
.SL_POLL <- 0.1

# --- low-level calls ---------------------------------------------------------------

# Raises an NWS failure as a condition (as the public API does).
.slCheck <- function(r, call = sys.call(-1)) {
  if (inherits(r, "nws_failure")) .nwsFail(r, call)
  r
}

.slStore <- function(sess, ws, var, x) {
  e <- .nwsEncode(x)
  .slCheck(nws_store(sess, ws, var, e[[1L]], e[[2L]]))
  invisible(NULL)
}

# A decoded value, NULL when a Try found nothing or a timeout passed.
.slRetrieve <- function(sess, ws, var, op, timeout = -1) {
  v <- nws_retrieve(sess, ws, var, op, timeout)
  if (inherits(v, "nws_failure")) {
    if (identical(v$reason, "TIMED_OUT")) return(NULL)
    .nwsFail(v, sys.call(-1))
  }
  if (is.null(v)) return(NULL)
  .nwsDecode(v, sys.call(-1))
}

# A message of the sleigh workspace (R serialize()). The common case without
# .nwsDecode's handler: an unreadable value still signals an error (R's).
.slDecode <- function(v) {
  if (is.raw(v) && identical(attr(v, "codec", exact = TRUE), R_SERIALIZE)) {
    attr(v, "codec") <- NULL
    return(unserialize(v))
  }
  .nwsDecode(v, NULL)
}

# --- conditions --------------------------------------------------------------------------

.slError <- function(class, message, ...) {
  structure(class = c(class, "sleighError", "error", "condition"),
            list(message = message, call = NULL, ...))
}

.slTaskError <- function(message, index, rank = NA, traceback = "", killed = FALSE, error = NULL) {
  .slError("sleighTaskError", message, index = index, rank = rank, traceback = traceback,
           killed = killed, error = error)
}

# --- options -------------------------------------------------------------------------------

# The options of sleigh() and their defaults (NULL: computed).
defaultSleighOptions <- list(
  nwsHost = NULL, nwsPort = NULL, nwsHostRemote = NULL, nwsPortRemote = NULL,
  launch = "local", workerCount = 3, nodeList = NULL, rprog = NULL,
  workingDir = NULL, logDir = NULL, user = NULL,
  wsNameTemplate = "sleigh_ride_%d", userWsNameTemplate = "sleigh_user_%d",
  maxRetries = 1, verbose = FALSE)

# Options of the original that have no effect here.
.SL_IGNORED <- c("scriptExec", "scriptDir", "scriptName", "workerWrapper", "wrapperDir",
                 "passwd", "simpleQuote", "outfile", "python")

# A launch function: the command prefix that runs a worker on `host` over
# ssh. Every sleigh option is passed in `options` (a list); `user` adds
# -l user.
sshcmd <- function(host, options) {
  if (!is.character(host) || length(host) != 1L || !nzchar(host))
    stop("empty string specified in nodeList")
  ssh <- unname(Sys.which("ssh"))
  if (!nzchar(ssh)) ssh <- "/usr/bin/ssh"
  user <- if (!missing(options) && !is.null(options$user)) options$user else NULL
  c(ssh, "-n", "-x", "-o", "BatchMode=yes", if (!is.null(user)) c("-l", user), host)
}

.slTemplate <- function(t) {
  if (!is.character(t) || length(t) != 1L || !nzchar(t))
    stop("a workspace name template must be a non-empty string")
  gsub("%0?[0-9]*d", "%d", t)
}

# --- the sleigh class --------------------------------------------------------------------

setClass("sleigh",
         representation(nodeList = "character", nws = "netWorkSpace", userNws = "netWorkSpace",
                        nwsName = "character", userNwsName = "character", nwss = "nwsServer",
                        options = "list", state = "environment"))

setClass("sleighPending", representation(state = "environment", job = "environment"))

sleigh <- function(...) {
  args <- list(...)
  if (length(args) > 0L && (is.null(names(args)) || !nzchar(names(args)[1L]))) {
    if (!is.character(args[[1L]])) stop("argument 1 has no name and is not a character vector")
    names(args)[1L] <- "nodeList"
    warning("nodeList should be passed using named variable, nodeList")
  }
  if (nzchar(Sys.getenv("NWS_SLEIGH_WORKER")))
    stop(.slError("sleighNotAllowed",
                  "sleigh construction not allowed (probably accidentally called from a sleigh worker)"))
  ignored <- intersect(names(args), .SL_IGNORED)
  if (length(ignored)) {
    warning("sleigh option(s) without effect in this version: ", paste(ignored, collapse = ", "))
    args[ignored] <- NULL
  }
  unrecog <- setdiff(names(args), names(defaultSleighOptions))
  if (length(unrecog)) stop("unused argument(s) ", paste(unrecog, collapse = ", "))
  opts <- defaultSleighOptions
  opts[names(args)] <- args
  if (is.null(opts$nwsHost)) opts$nwsHost <- .nwsHostArg(Sys.getenv("NWS_HOST", "localhost"))
  if (is.null(opts$nwsPort)) opts$nwsPort <- .nwsPortArg(Sys.getenv("NWS_PORT", "8765"))
  if (is.null(opts$nwsHostRemote)) opts$nwsHostRemote <- opts$nwsHost
  if (is.null(opts$nwsPortRemote)) opts$nwsPortRemote <- opts$nwsPort
  if (is.null(opts$workingDir)) opts$workingDir <- getwd()
  if (is.null(opts$rprog)) opts$rprog <- file.path(R.home("bin"), "Rscript")
  if (!is.numeric(opts$maxRetries) || length(opts$maxRetries) != 1L || opts$maxRetries < 0)
    stop("maxRetries must be a number >= 0")
  if (is.function(opts$launch)) {
    nodes <- opts$nodeList
    if (is.null(nodes)) nodes <- rep("localhost", opts$workerCount)
    if (!is.null(args$workerCount) && !is.null(args$nodeList))
      nodes <- rep(nodes, length.out = opts$workerCount)
  } else if (identical(opts$launch, "local")) {
    if (!is.numeric(opts$workerCount) || length(opts$workerCount) != 1L || opts$workerCount < 1)
      stop("must have at least one worker in a sleigh")
    nodes <- rep("localhost", opts$workerCount)
  } else {
    stop("unknown launch protocol (use 'local' or a function such as sshcmd)")
  }
  nodes <- as.character(nodes)
  if (!length(nodes)) stop("must have at least one worker in a sleigh")
  opts$nodeList <- nodes
  opts$workerCount <- length(nodes)

  server <- nwsServer(opts$nwsHost, opts$nwsPort)
  ok <- FALSE
  on.exit(if (!ok) try(close(server), silent = TRUE))
  wsName <- nwsMktempWs(server, .slTemplate(opts$wsNameTemplate))
  userName <- nwsMktempWs(server, .slTemplate(opts$userWsNameTemplate))
  ws <- nwsOpenWs(server, wsName)
  user <- nwsOpenWs(server, userName)
  st <- .slNewState(server, ws, opts)
  st$userName <- userName
  s <- new("sleigh", nodeList = nodes, nws = ws, userNws = user, nwsName = wsName,
           userNwsName = userName, nwss = server, options = opts, state = st)
  .slStart(st, nodes)
  # Stopping is what the end of the session does anyway; this also ends the
  # worker processes when the sleigh is garbage collected or R exits.
  reg.finalizer(st, function(e) try(.slShutdown(e), silent = TRUE), onexit = TRUE)
  ok <- TRUE
  s
}

.slNewState <- function(server, ws, opts) {
  st <- new.env(parent = emptyenv())
  st$server <- server
  st$sess <- server@session
  st$wsName <- ws@wsName
  st$opts <- opts
  st$verbose <- isTRUE(opts$verbose)
  st$workers <- list()
  st$jobs <- new.env(parent = emptyenv())
  st$nextJob <- 0L
  st$seq <- 0
  st$lastBarrier <- NULL
  st$stopped <- FALSE
  st$occupied <- NULL
  st$finished <- c(0, 0)
  st$shown <- c(-1, -1)
  st$tokensAt <- 0
  st$checkedAt <- 0
  st$progressAt <- 0
  st
}

.slLog <- function(st, ...) {
  if (isTRUE(st$verbose)) message("sleigh master: ", ...)
}

.slStart <- function(st, nodes) {
  sess <- st$sess
  ws <- st$wsName
  n <- length(nodes)
  for (v in c("workerCount", "nodeList", "totalTasks", "doneTasks"))
    .slCheck(nws_declare(sess, ws, v, "single"))
  .slStore(sess, ws, "workerCount", as.character(n))
  .slStore(sess, ws, "nodeList", paste(nodes, collapse = " "))
  .slStore(sess, ws, "totalTasks", "0")
  .slStore(sess, ws, "doneTasks", "0")
  .slCheck(nws_declare(sess, ws, .SL_TASK, "fifo"))
  .slCheck(nws_declare(sess, ws, .SL_RESULT, "fifo"))
  .slStore(sess, ws, .SL_MASTER_INFO, list(libPaths = .libPaths(), pid = Sys.getpid()))
  workers <- vector("list", n)
  for (r in seq_len(n) - 1L) {
    .slStore(sess, ws, .slAliveVar(r), paste("worker", r))
    w <- new.env(parent = emptyenv())
    w$rank <- r
    w$node <- nodes[[r + 1L]]
    w$alive <- TRUE
    w$seen <- FALSE
    w$running <- NULL
    w$why <- ""
    w$proc <- NULL
    workers[[r + 1L]] <- w
  }
  st$workers <- workers
  for (w in workers) .slLaunch(st, w, n)
  invisible(NULL)
}

.slWorkerArgs <- function(st, w, n) {
  o <- st$opts
  c("--host", o$nwsHostRemote, "--port", format(o$nwsPortRemote, scientific = FALSE),
    "--ws", st$wsName, "--user-ws", st$userName, "--rank", w$rank, "--count", n,
    "--name", w$node, "--cwd", o$workingDir,
    if (!is.null(o$logDir)) c("--log", file.path(o$logDir, sprintf("%s_%04d.log", st$wsName, w$rank))),
    if (isTRUE(o$verbose)) "--verbose")
}

.slLaunch <- function(st, w, n) {
  o <- st$opts
  args <- c("--vanilla", "-e", "suppressPackageStartupMessages(library(nws));nws:::.sleighWorkerMain()",
            .slWorkerArgs(st, w, n),
            if (!is.function(o$launch)) c("--parent", Sys.getpid()))
  if (is.function(o$launch)) {
    prefix <- o$launch(w$node, o)
    if (!is.character(prefix)) stop("launch must return a character vector")
    argv <- c(prefix, shQuote(c(o$rprog, args)))
    cmd <- argv[[1L]]
    cargs <- argv[-1L]
  } else {
    cmd <- o$rprog
    cargs <- args
  }
  .slLog(st, "starting worker ", w$rank, ": ", paste(c(cmd, cargs), collapse = " "))
  if (requireNamespace("processx", quietly = TRUE)) {
    # supervise: the workers are ended even if this R process is killed.
    w$proc <- tryCatch(
      processx::process$new(cmd, cargs, stdin = NULL, stdout = "", stderr = "",
                            supervise = TRUE, cleanup = TRUE),
      error = function(e) {
        w$alive <- FALSE
        st$nalive <- NULL
        w$why <- paste("could not be started:", conditionMessage(e))
        NULL
      })
  } else {
    system2(cmd, shQuote(cargs), wait = FALSE)
  }
  invisible(NULL)
}

setMethod("show", "sleigh", function(object) {
  st <- object@state
  alive <- sum(vapply(st$workers, function(w) isTRUE(w$alive), TRUE))
  cat("\nNWS Sleigh Object\n")
  cat("Workspace:\t", object@nwsName, "\n", sep = "")
  cat(length(st$workers), " Worker Nodes (", alive, " alive):\t",
      paste(object@nodeList, collapse = ", "), "\n", sep = "")
  if (st$stopped) cat("(stopped)\n")
  cat("\n")
  invisible(object)
})

# --- jobs ------------------------------------------------------------------------------------

.slNewJob <- function(st, kind, errors) {
  job <- new.env(parent = emptyenv())
  job$id <- st$nextJob
  st$nextJob <- st$nextJob + 1L
  job$kind <- kind
  job$errors <- errors
  job$finished <- FALSE
  job$error <- NULL
  job$gathered <- FALSE
  job
}

.slLiveWorkers <- function(st) {
  if (is.null(st$nalive)) st$nalive <- sum(vapply(st$workers, function(w) isTRUE(w$alive), TRUE))
  st$nalive
}

.slDeaths <- function(st) {
  d <- Filter(function(w) !w$alive, st$workers)
  paste(vapply(d, function(w) sprintf("worker %d %s", w$rank, w$why), ""), collapse = "; ")
}

.slCheckUsable <- function(st) {
  if (st$stopped) stop(.slError("sleighStopped", "sleigh is stopped"))
  if (.slLiveWorkers(st) == 0)
    stop(.slError("sleighNoWorkers", paste("every worker of this sleigh has died:", .slDeaths(st))))
}

.slProgress <- function(job) {
  if (job$kind == "W") c(length(job$wresults), length(job$ranks)) else c(job$ndone, job$n)
}

.slFinish <- function(st, job, error = NULL) {
  if (job$finished) return(invisible(NULL))
  job$finished <- TRUE
  job$error <- error
  key <- as.character(job$id)
  if (exists(key, envir = st$jobs, inherits = FALSE)) {
    rm(list = key, envir = st$jobs)
    st$finished <- st$finished + .slProgress(job)
  }
  if (st$stopped) return(invisible(NULL))
  queued <- if (job$kind == "E") any(!is.na(job$qseq)) else FALSE
  if (job$kind == "E") job$qseq[] <- NA_real_
  if (queued && !is.null(error)) .slRequeue(st)
  try({
    .slCheck(nws_delete_var(st$sess, st$wsName, .slFunctionVar(job$id)))
    if (job$kind == "W") {
      .slStore(st$sess, st$wsName, .slBarrierVar(job$id), "go")
      if (!is.null(st$lastBarrier))
        .slCheck(nws_delete_var(st$sess, st$wsName, .slBarrierVar(st$lastBarrier)))
      st$lastBarrier <- job$id
    }
  }, silent = TRUE)
  .slShowProgress(st, force = TRUE)
  invisible(NULL)
}

# Elements to submit now: list of c(first, count).
.slRefill <- function(st, job) {
  out <- list()
  if (job$finished || job$kind != "E") return(out)
  wc <- max(1, .slLiveWorkers(st))
  win <- if (!is.null(job$loadFactor)) max(wc, floor(job$loadFactor * wc))
         else if (!is.null(job$chunkSize) || job$allAtOnce) Inf else 2 * wc
  while (job$nextIdx <= job$n && job$nlive < win) {
    k <- if (!is.null(job$chunkSize)) job$chunkSize
         else if (job$allAtOnce) max(1, ceiling(job$n / (wc * 40)))
         else if (is.null(job$tau)) 1
         else max(1, min(floor(.SL_CHUNK_TARGET / max(job$tau, 1e-7)),
                         floor((job$n - job$nextIdx + 1) / (4 * wc))))
    k <- min(k, job$n - job$nextIdx + 1)
    out[[length(out) + 1L]] <- c(job$nextIdx, k)
    .slLiveAdd(job, job$nextIdx, k)
    job$nextIdx <- job$nextIdx + k
  }
  out
}

# The chunks submitted and not done: job$livek[first] is the size of the
# chunk starting at `first` (0: none).
.slLiveAdd <- function(job, first, count) {
  if (job$livek[first] == 0L) job$nlive <- job$nlive + 1L
  .slSetAt(job, "livek", first, count)
}

.slLiveDrop <- function(job, first, count) {
  if (job$livek[first] != count) return(FALSE)
  .slSetAt(job, "livek", first, 0L)
  job$nlive <- job$nlive - 1L
  TRUE
}

# job[[name]][i] <- value, in place. R copies the whole vector for
# `job$x[i] <- v` when `job` is an environment (the value bound there counts
# as shared), which made every message O(elements); a vector taken out of the
# environment first is updated in place.
.slSetAt <- function(job, name, i, value) {
  x <- job[[name]]
  job[[name]] <- NULL
  x[i] <- value
  job[[name]] <- x
  invisible(NULL)
}

.slEnvelope <- function(job, first, count) {
  list(job$kind, job$id, first, count, job$elements[first:(first + count - 1L)])
}

.slSubmit <- function(st, job, chunks, front = FALSE) {
  if (!length(chunks)) return(invisible(NULL))
  envs <- vector("list", length(chunks))
  # Queued, not yet started (job$qseq: queue order; job$qk: chunk size);
  # updated out of the environment, in place (see .slSetAt).
  qseq <- job$qseq
  qk <- job$qk
  job$qseq <- job$qk <- NULL
  for (ch in chunks) {
    st$seq <- st$seq + 1
    qseq[ch[[1L]]] <- if (front) -st$seq else st$seq
    qk[ch[[1L]]] <- ch[[2L]]
  }
  job$qseq <- qseq
  job$qk <- qk
  if (!front) for (i in seq_along(chunks))
    envs[[i]] <- serialize(.slEnvelope(job, chunks[[i]][[1L]], chunks[[i]][[2L]]), NULL)
  if (front) .slRequeue(st)
  else .slCheck(nws_store_many(st$sess, st$wsName, .SL_TASK, envs, R_SERIALIZE))
  invisible(NULL)
}

# Replaces the task queue by the queued tasks, in order (spec/sleigh.md#requeue).
.slRequeue <- function(st) {
  seqs <- numeric(0)
  envs <- list()
  for (key in ls(st$jobs)) {
    job <- st$jobs[[key]]
    if (job$finished) next
    if (job$kind == "E") {
      firsts <- which(!is.na(job$qseq))
      for (f in firsts) {
        seqs <- c(seqs, job$qseq[f])
        envs[[length(envs) + 1L]] <- .slEnvelope(job, f, job$qk[f])
      }
    } else if (job$wqueued > 0L) {
      for (r in seq_len(job$wqueued)) {
        seqs <- c(seqs, job$wseq)
        envs[[length(envs) + 1L]] <- list("W", job$id, r, 1L, NULL)
      }
    }
  }
  .slLog(st, "requeue: ", length(envs), " tasks")
  try({
    .slCheck(nws_delete_var(st$sess, st$wsName, .SL_TASK))
    .slCheck(nws_declare(st$sess, st$wsName, .SL_TASK, "fifo"))
    if (length(envs))
      .slCheck(nws_store_many(st$sess, st$wsName, .SL_TASK,
                              lapply(envs[order(seqs)], serialize, NULL), R_SERIALIZE))
  }, silent = TRUE)
}

.slBegin <- function(st, job, record) {
  .slCheckUsable(st)
  .slStore(st$sess, st$wsName, .slFunctionVar(job$id), record)
  assign(as.character(job$id), job, envir = st$jobs)
  if (job$kind == "W") {
    envs <- lapply(job$ranks, function(r) list("W", job$id, r, 1L, NULL))
    st$seq <- st$seq + 1
    job$wseq <- st$seq
    job$wqueued <- length(envs)
    .slCheck(nws_store_many(st$sess, st$wsName, .SL_TASK, lapply(envs, serialize, NULL), R_SERIALIZE))
  } else {
    .slSubmit(st, job, .slRefill(st, job))
  }
  .slShowProgress(st, force = TRUE)
}

# --- results ----------------------------------------------------------------------------------

.slRemoteTaskError <- function(err, what, index) {
  .slTaskError(sprintf("%s failed on worker %s (%s, pid %s): %s\n\nWorker traceback:\n%s",
                       what, err$rank, err$host, err$pid, err$message, err$traceback),
               index = index, rank = err$rank, traceback = err$traceback, error = err$error)
}

.slDeliver <- function(job, i, value) {
  .slSetAt(job, "results", i, list(value))
  .slSetAt(job, "done", i, TRUE)
  job$ndone <- job$ndone + 1L
}

.slOnDone <- function(st, job, rank, first, count, payload, seconds) {
  if (job$kind == "W") {
    if (!(rank %in% job$ranks) || !is.null(job$wresults[[as.character(rank)]])) return()
    errs <- payload$errors
    if (length(errs) && !is.null(errs[["1"]])) {
      e <- .slRemoteTaskError(errs[["1"]], "eachWorker", rank)
      if (job$errors == "stop") return(.slFinish(st, job, e))
      job$wresults[[as.character(rank)]] <- list(e)
    } else {
      job$wresults[[as.character(rank)]] <- list(payload$values[[1L]])
    }
    if (length(job$wresults) >= length(job$ranks)) .slFinish(st, job)
    return()
  }
  .slLiveDrop(job, first, count)
  if (seconds > 0 && count > 0) {
    sample <- seconds / count
    job$tau <- if (is.null(job$tau)) sample else 0.5 * job$tau + 0.5 * sample
  }
  errs <- payload$errors
  idx <- first:(first + count - 1L)
  if (!length(errs) && count > 1L && !any(job$done[idx])) {
    .slSetAt(job, "results", idx, payload$values)
    .slSetAt(job, "done", idx, TRUE)
    job$ndone <- job$ndone + count
    if (job$ndone >= job$n) .slFinish(st, job)
    return()
  }
  for (off in seq_len(count)) {
    i <- first + off - 1L
    if (i > job$n || job$done[i]) next
    err <- if (length(errs)) errs[[as.character(off)]] else NULL
    if (!is.null(err)) {
      e <- .slRemoteTaskError(err, sprintf("task %d", i), i)
      if (job$errors == "stop") return(.slFinish(st, job, e))
      .slDeliver(job, i, e)
    } else {
      .slDeliver(job, i, payload$values[[off]])
    }
  }
  if (job$ndone >= job$n) .slFinish(st, job)
}

.slOnMessage <- function(st, msg) {
  if (!is.list(msg) || length(msg) != 3L) return()
  rank <- msg[[1L]]
  if (!is.numeric(rank) || rank < 0 || rank >= length(st$workers)) return()
  w <- st$workers[[rank + 1L]]
  w$seen <- TRUE
  done <- msg[[2L]]
  start <- msg[[3L]]
  if (!is.null(done)) {
    jid <- done[[1L]]
    run <- w$running
    if (!is.null(run) && run[[1L]] == jid && run[[2L]] == done[[2L]]) w$running <- NULL
    job <- st$jobs[[as.character(jid)]]
    if (!is.null(job) && !job$finished && !is.null(done[[4L]]))
      .slOnDone(st, job, rank, done[[2L]], done[[3L]], done[[4L]], done[[5L]])
  }
  if (!is.null(start)) {
    w$running <- start
    job <- st$jobs[[as.character(start[[1L]])]]
    if (!is.null(job)) {
      if (job$kind == "W") {
        if (job$wqueued > 0L) job$wqueued <- job$wqueued - 1L
      } else {
        f <- start[[2L]]
        if (!is.na(job$qseq[f]) && job$qk[f] == start[[3L]]) .slSetAt(job, "qseq", f, NA_real_)
      }
    }
  }
}

# --- liveness -----------------------------------------------------------------------------------

.slCheckWorkers <- function(st, now) {
  dead <- list()
  for (w in st$workers) {
    if (w$alive && !is.null(w$proc) && !w$proc$is_alive()) {
      code <- w$proc$get_exit_status()
      why <- if (is.null(code)) "exited"
             else if (code < 0) sprintf("was killed by signal %d", -code)
             else sprintf("exited with status %d", code)
      dead[[length(dead) + 1L]] <- list(w, why)
    }
  }
  if (now - st$tokensAt >= 0.5 && .slLiveWorkers(st) > 0) {
    st$tokensAt <- now
    l <- nws_list_vars(st$sess, st$wsName)
    if (!inherits(l, "nws_failure")) {
      for (w in st$workers) {
        if (!w$alive || any(vapply(dead, function(d) identical(d[[1L]], w), TRUE))) next
        i <- match(.slAliveVar(w$rank), l$name)
        if (is.na(i)) next
        if (l$value_count[[i]] == 0) w$seen <- TRUE
        else if (w$seen) dead[[length(dead) + 1L]] <- list(w, "lost its NWS session")
      }
    }
  }
  if (!length(dead)) return(invisible(NULL))
  # What a dead worker stored is in `result` already: read it all first.
  repeat {
    m <- .slRetrieve(st$sess, st$wsName, .SL_RESULT, 1L)
    if (is.null(m)) break
    .slOnMessage(st, m)
  }
  for (d in dead) if (d[[1L]]$alive) .slWorkerDied(st, d[[1L]], d[[2L]])
}

.slWorkerDied <- function(st, w, why) {
  w$alive <- FALSE
  st$nalive <- NULL
  w$why <- why
  running <- w$running
  w$running <- NULL
  .slLog(st, "worker ", w$rank, " ", why)
  for (key in ls(st$jobs)) {
    job <- st$jobs[[key]]
    if (is.null(job) || job$finished) next
    if (job$kind == "W") {
      if (w$rank %in% job$ranks && is.null(job$wresults[[as.character(w$rank)]])) {
        e <- .slTaskError(sprintf("eachWorker failed on worker %d: the worker %s", w$rank, why),
                          index = w$rank, rank = w$rank, killed = TRUE)
        if (job$errors == "stop") .slFinish(st, job, e)
        else {
          job$wresults[[as.character(w$rank)]] <- list(e)
          if (length(job$wresults) >= length(job$ranks)) .slFinish(st, job)
        }
      }
      next
    }
    if (is.null(running) || running[[1L]] != job$id) next
    first <- running[[2L]]
    count <- running[[3L]]
    dup <- any(vapply(st$workers, function(o) o$alive && !is.null(o$running) &&
                        identical(as.numeric(unlist(o$running)), as.numeric(unlist(running))), TRUE))
    if (dup || !.slLiveDrop(job, first, count)) next
    front <- list()
    purge <- FALSE
    for (i in seq.int(first, length.out = count)) {
      if (job$done[i]) next
      if (count == 1L) {
        job$attempts[i] <- job$attempts[i] + 1L
        if (job$attempts[i] > job$retries) {
          e <- .slTaskError(sprintf("task %d failed: its worker died each of the %d times it ran (last: worker %d %s); maxRetries=%d",
                                    i, job$attempts[i], w$rank, why, job$retries),
                            index = i, rank = w$rank, killed = TRUE)
          if (job$errors == "stop") { .slFinish(st, job, e); break }
          .slDeliver(job, i, e)
          purge <- TRUE
          next
        }
      }
      .slLiveAdd(job, i, 1L)
      front[[length(front) + 1L]] <- c(i, 1L)
    }
    if (job$finished) next
    if (length(front)) .slSubmit(st, job, rev(front), front = TRUE)
    else if (purge) .slRequeue(st)
    if (job$ndone >= job$n) .slFinish(st, job)
  }
  if (.slLiveWorkers(st) == 0) {
    what <- if (is.null(running)) "" else sprintf(" (the last one was running %s)",
      if (running[[3L]] == 1L) sprintf("task %d", running[[2L]])
      else sprintf("tasks %d-%d", running[[2L]], running[[2L]] + running[[3L]] - 1L))
    e <- .slError("sleighNoWorkers", sprintf("every worker of this sleigh has died%s: %s",
                                             what, .slDeaths(st)))
    for (key in ls(st$jobs)) .slFinish(st, st$jobs[[key]], e)
  }
}

.slShowProgress <- function(st, force = FALSE, now = proc.time()[[3L]]) {
  if (!force && now - st$progressAt < 0.25) return(invisible(NULL))
  p <- st$finished
  for (key in ls(st$jobs)) p <- p + .slProgress(st$jobs[[key]])
  if (!identical(p, st$shown)) {
    st$progressAt <- now
    st$shown <- p
    try({
      .slStore(st$sess, st$wsName, "doneTasks", format(p[[1L]], scientific = FALSE))
      .slStore(st$sess, st$wsName, "totalTasks", format(p[[2L]], scientific = FALSE))
    }, silent = TRUE)
  }
}

# Reads the workers' messages until `job` has finished (or `deadline`, in
# proc.time() seconds, passes); `once`: only what is there now.
.slPump <- function(st, job = NULL, deadline = Inf, once = FALSE, bar = NULL) {
  repeat {
    if (!is.null(job) && job$finished) return(TRUE)
    if (st$stopped) return(FALSE)
    limit <- if (once) -1 else .SL_POLL
    if (is.finite(deadline)) {
      now <- proc.time()[[3L]]
      if (now >= deadline) return(FALSE)
      limit <- min(limit, max(0, deadline - now))
    }
    v <- nws_retrieve(st$sess, st$wsName, .SL_RESULT, if (once) 1L else 0L, limit)
    msg <- NULL
    if (inherits(v, "nws_failure")) {
      if (identical(v$reason, "NO_SUCH_WORKSPACE")) {
        for (key in ls(st$jobs))
          .slFinish(st, st$jobs[[key]], .slError("sleighStopped", "the sleigh workspace is gone"))
        return(FALSE)
      }
      if (!identical(v$reason, "TIMED_OUT")) .nwsFail(v, NULL)
    } else if (!is.null(v)) {
      msg <- .slDecode(v)
      .slOnMessage(st, msg)
    }
    now <- proc.time()[[3L]]
    if (is.null(msg) || now - st$checkedAt >= .SL_POLL) {
      st$checkedAt <- now
      .slCheckWorkers(st, now)
    }
    if (!is.null(job) && job$kind == "E" && !job$finished) {
      if (job$nextIdx <= job$n) .slSubmit(st, job, .slRefill(st, job))
    } else for (key in ls(st$jobs)) {
      j <- st$jobs[[key]]
      if (!is.null(j) && !j$finished && j$kind == "E") .slSubmit(st, j, .slRefill(st, j))
    }
    .slShowProgress(st, now = now)
    if (!is.null(bar)) utils::setTxtProgressBar(bar, .slProgress(job)[[1L]])
    if (once && is.null(msg)) return(!is.null(job) && job$finished)
  }
}

.slOutcome <- function(job) {
  if (!is.null(job$error)) stop(job$error)
  if (job$kind == "W") {
    return(lapply(as.character(job$ranks), function(r) job$wresults[[r]][[1L]]))
  }
  job$results
}

.slWait <- function(st, job, progress = FALSE, timeout = NULL) {
  bar <- NULL
  if (progress && !job$finished) {
    bar <- utils::txtProgressBar(min = 0, max = max(1, .slProgress(job)[[2L]]), style = 3, file = stderr())
    on.exit(close(bar), add = TRUE)
  }
  deadline <- if (is.null(timeout)) Inf else proc.time()[[3L]] + timeout
  # An interrupt (or any error) abandons the call.
  on.exit(if (!job$finished) .slFinish(st, job, .slError("sleighStopped", "interrupted")), add = TRUE)
  if (!.slPump(st, job, deadline, bar = bar) && !job$finished)
    stop(.slError("sleighTimeout", "timed out waiting for the results"))
  if (!is.null(bar)) utils::setTxtProgressBar(bar, .slProgress(job)[[1L]])
  job$gathered <- TRUE
  if (identical(st$occupied, job)) st$occupied <- NULL
  .slOutcome(job)
}

# --- elements (spec/sleigh.md#arguments) ------------------------------------------------------------

.slCount <- function(x, by) {
  if (is.matrix(x) || is.data.frame(x)) {
    switch(by, row = nrow(x), column = ncol(x), cell = nrow(x) * ncol(x))
  } else length(x)
}

.slGet <- function(x, i, by) {
  if (is.matrix(x)) {
    switch(by, row = x[i, ], column = x[, i], cell = x[[i]])
  } else if (is.data.frame(x)) {
    switch(by, row = x[i, , drop = FALSE], column = x[[i]],
           cell = x[[(i - 1L) %/% nrow(x) + 1L]][[(i - 1L) %% nrow(x) + 1L]])
  } else x[[i]]
}

.slElements <- function(elementArgs, by) {
  if (!is.list(elementArgs)) elementArgs <- list(elementArgs)
  if (!length(elementArgs)) return(list())
  lens <- vapply(elementArgs, .slCount, 1, by = by)
  n <- max(lens)
  if (any(lens != n & lens != 1))
    stop(.slError("sleighIllegalValue", sprintf(
      "elementArgs have unequal lengths %s: each must have %d elements (the longest) or 1 (used for every task)",
      paste(sort(unique(lens)), collapse = ", "), n)))
  if (n == 0) return(list())
  cols <- lapply(seq_along(elementArgs), function(j) {
    x <- elementArgs[[j]]
    if (lens[[j]] == 1 && n > 1) rep(list(.slGet(x, 1L, by)), n)
    else if (!is.matrix(x) && !is.data.frame(x)) as.list(x)
    else lapply(seq_len(n), function(i) .slGet(x, i, by))
  })
  if (length(cols) == 1L) return(lapply(cols[[1L]], list))
  lapply(seq_len(n), function(i) lapply(cols, `[[`, i))
}

.slOption <- function(eo, name, default) if (is.null(eo[[name]])) default else eo[[name]]

.slErrorsOption <- function(x) {
  if (identical(x, "raise")) x <- "stop"
  if (!x %in% c("stop", "value")) stop("errors must be 'stop' (or 'raise') or 'value'")
  x
}

.slCheckCall <- function(st) {
  if (st$stopped) stop(.slError("sleighStopped", "Sleigh is stopped"))
  if (!is.null(st$occupied)) stop(.slError("sleighOccupied", "Sleigh is occupied"))
}

# --- the API --------------------------------------------------------------------------------

setGeneric("eachWorker", function(.Object, fun, ..., eo = NULL, DEBUG = FALSE) standardGeneric("eachWorker"))
setMethod("eachWorker", "sleigh", function(.Object, fun, ..., eo = NULL, DEBUG = FALSE) {
  st <- .Object@state
  if (!is.function(fun)) stop("fun must be a function")
  if (!is.null(eo) && !is.list(eo) && !is.environment(eo)) stop("options arg must be a list or environment.")
  eo <- as.list(eo)
  unknown <- setdiff(names(eo), c("blocking", "errors", "accumulator", "closure"))
  if (length(unknown)) warning("ignoring unknown option(s): ", paste0('"', unknown, '"', collapse = ", "))
  blocking <- as.logical(.slOption(eo, "blocking", TRUE))
  errors <- .slErrorsOption(.slOption(eo, "errors", "stop"))
  .slCheckCall(st)
  job <- .slNewJob(st, "W", errors)
  job$ranks <- vapply(Filter(function(w) w$alive, st$workers), function(w) w$rank, 1L)
  job$wresults <- list()
  .slBegin(st, job, list("W", fun, list(...), NULL))
  if (!blocking) {
    st$occupied <- job
    return(new("sleighPending", state = st, job = job))
  }
  .slWait(st, job)
})

setGeneric("eachElem",
           function(.Object, fun, elementArgs = list(), fixedArgs = list(), eo = NULL, DEBUG = FALSE)
             standardGeneric("eachElem"))
setMethod("eachElem", "sleigh",
          function(.Object, fun, elementArgs = list(), fixedArgs = list(), eo = NULL, DEBUG = FALSE) {
  st <- .Object@state
  if (!is.function(fun)) stop("fun must be a function")
  if (!is.null(eo) && !is.list(eo) && !is.environment(eo)) stop("options arg must be a list or environment.")
  eo <- as.list(eo)
  unknown <- setdiff(names(eo), c("argPermute", "blocking", "by", "chunkSize", "loadFactor", "errors",
                                  "maxRetries", "progress", "accumulator", "closure", "elementFunc"))
  if (length(unknown)) warning("ignoring unknown option(s): ", paste0('"', unknown, '"', collapse = ", "))
  blocking <- as.logical(.slOption(eo, "blocking", TRUE))
  by <- match.arg(.slOption(eo, "by", "row"), c("row", "column", "cell"))
  chunk <- eo$chunkSize
  if (!is.null(chunk) && (!is.numeric(chunk) || chunk < 1)) stop("chunkSize must be a number >= 1")
  lf <- eo$loadFactor
  if (!is.null(lf) && (!is.numeric(lf) || lf <= 0)) stop("loadFactor must be a number > 0")
  errors <- .slErrorsOption(.slOption(eo, "errors", "stop"))
  retries <- .slOption(eo, "maxRetries", st$opts$maxRetries)
  progress <- isTRUE(eo$progress)
  permute <- eo$argPermute
  elements <- .slElements(elementArgs, by)
  if (!is.list(fixedArgs)) fixedArgs <- list(fixedArgs)
  if (!is.null(permute)) {
    nargs <- (if (length(elements)) length(elements[[1L]]) else 0L) + length(fixedArgs)
    if (!is.numeric(permute) || any(permute < 1 | permute > nargs))
      stop(sprintf("argPermute entries must be indices (1-based) of the %d arguments", nargs))
  }
  .slCheckCall(st)
  job <- .slNewJob(st, "E", errors)
  job$n <- length(elements)
  job$elements <- elements
  job$results <- vector("list", job$n)
  job$done <- rep(FALSE, job$n)
  job$ndone <- 0L
  job$nextIdx <- 1L
  job$livek <- integer(job$n)
  job$nlive <- 0L
  job$qseq <- rep(NA_real_, job$n)
  job$qk <- integer(job$n)
  job$attempts <- integer(job$n)
  job$retries <- retries
  job$tau <- NULL
  job$chunkSize <- if (is.null(chunk)) NULL else as.integer(chunk)
  job$loadFactor <- lf
  # Nobody refills between checkSleigh() calls: queue everything at once.
  job$allAtOnce <- !blocking
  if (job$n > 0) .slBegin(st, job, list("E", fun, fixedArgs, permute))
  else job$finished <- TRUE
  if (!blocking) {
    st$occupied <- job
    return(new("sleighPending", state = st, job = job))
  }
  .slWait(st, job, progress = progress)
})

setGeneric("checkSleigh", function(.Object) standardGeneric("checkSleigh"))
setMethod("checkSleigh", "sleighPending", function(.Object) {
  job <- .Object@job
  st <- .Object@state
  if (!job$finished && !st$stopped) .slPump(st, job, once = TRUE)
  p <- .slProgress(job)
  structure(as.integer(p[[2L]] - p[[1L]]), done = as.integer(p[[1L]]), total = as.integer(p[[2L]]))
})

setGeneric("waitSleigh", function(.Object, timeout = NULL) standardGeneric("waitSleigh"))
setMethod("waitSleigh", "sleighPending", function(.Object, timeout = NULL) {
  if (.Object@job$gathered) stop(.slError("sleighGathered", "results already gathered"))
  .slWait(.Object@state, .Object@job, timeout = timeout)
})

setMethod("show", "sleighPending", function(object) {
  p <- .slProgress(object@job)
  cat(sprintf("sleighPending: %d of %d tasks done\n", p[[1L]], p[[2L]]))
  invisible(object)
})

setGeneric("stopSleigh", function(.Object) standardGeneric("stopSleigh"))
setMethod("stopSleigh", "sleigh", function(.Object) {
  .slShutdown(.Object@state)
  invisible(NULL)
})

setMethod("close", "sleigh", function(con, ...) stopSleigh(con))

setGeneric("workerCount", function(.Object) standardGeneric("workerCount"))
setMethod("workerCount", "sleigh", function(.Object) length(.Object@state$workers))

setGeneric("workerInfo", function(.Object) standardGeneric("workerInfo"))
setMethod("workerInfo", "sleigh", function(.Object) {
  st <- .Object@state
  n <- length(st$workers)
  out <- data.frame(host = rep(NA_character_, n), os = NA_character_, pid = NA_integer_,
                    R = NA_character_, nws = NA_character_, rank = seq_len(n) - 1L,
                    name = NA_character_, alive = vapply(st$workers, function(w) w$alive, TRUE),
                    stringsAsFactors = FALSE)
  if (!st$stopped) {
    it <- nwsIFindTry(.Object@nws, .SL_WORKER_INFO)
    repeat {
      x <- it()
      if (is.null(x)) break
      i <- as.integer(x$rank) + 1L
      out$host[i] <- x$host
      out$os[i] <- x$os
      out$pid[i] <- as.integer(x$pid)
      out$R[i] <- x$R
      out$nws[i] <- x$nws
      out$name[i] <- x$name
    }
  }
  out
})

setGeneric("rankCount", function(.Object) standardGeneric("rankCount"))
setMethod("rankCount", "sleigh", function(.Object) sum(!is.na(workerInfo(.Object)$pid)))

setGeneric("status", function(.Object, closeGroup = FALSE, timeout = 0) standardGeneric("status"))
setMethod("status", "sleigh", function(.Object, closeGroup = FALSE, timeout = 0) {
  deadline <- proc.time()[[3L]] + timeout
  repeat {
    n <- rankCount(.Object)
    if (n >= workerCount(.Object) || proc.time()[[3L]] >= deadline)
      return(list(numWorkers = n, closed = as.integer(n >= workerCount(.Object))))
    Sys.sleep(0.05)
  }
})

.slShutdown <- function(st) {
  if (isTRUE(st$stopped)) return(invisible(NULL))
  for (key in ls(st$jobs))
    .slFinish(st, st$jobs[[key]], .slError("sleighStopped", "sleigh is stopped"))
  st$stopped <- TRUE
  try(.slCheck(nws_delete_ws(st$sess, st$wsName)), silent = TRUE)
  try(nws_close(st$sess), silent = TRUE)
  procs <- Filter(Negate(is.null), lapply(st$workers, function(w) w$proc))
  if (length(procs)) {
    deadline <- proc.time()[[3L]] + 1
    for (sig in c(0L, 15L, 9L)) {
      for (p in procs) if (sig > 0L && p$is_alive()) try(p$signal(sig), silent = TRUE)
      repeat {
        if (!any(vapply(procs, function(p) p$is_alive(), TRUE))) return(invisible(NULL))
        if (proc.time()[[3L]] >= deadline) break
        Sys.sleep(0.02)
      }
      deadline <- proc.time()[[3L]] + 1
    }
  }
  invisible(NULL)
}

# --- the worker (spec/sleigh.md#worker) -------------------------------------------------------------

.slArgs <- function(args) {
  out <- list()
  i <- 1L
  while (i <= length(args)) {
    a <- args[[i]]
    if (startsWith(a, "--")) {
      key <- substring(a, 3L)
      if (key %in% c("verbose")) {
        out[[key]] <- TRUE
        i <- i + 1L
      } else {
        out[[key]] <- args[[i + 1L]]
        i <- i + 2L
      }
    } else i <- i + 1L
  }
  out
}

.sleighWorkerMain <- function(args = commandArgs(TRUE)) {
  a <- .slArgs(args)
  if (!is.null(a$log)) {
    con <- file(a$log, open = "at")
    sink(con)
    sink(con, type = "message")
  }
  if (!is.null(a$cwd)) try(setwd(a$cwd), silent = TRUE)
  rank <- as.integer(a$rank)
  sess <- NULL
  ok <- tryCatch({
    server <- nwsServer(a$host, as.numeric(a$port))
    ws <- nwsUseWs(server, a$ws, create = FALSE)
    user <- nwsUseWs(server, a[["user-ws"]], create = FALSE)
    sess <- server@session
    token <- nws_fetch_leased(sess, a$ws, .slAliveVar(rank), FALSE, -1)
    if (inherits(token, "nws_failure")) .nwsFail(token, NULL)
    TRUE
  }, nws_error_no_such_workspace = function(e) {
    FALSE  # the sleigh ended before this worker started
  }, error = function(e) {
    message(sprintf("sleigh worker %s: cannot join the sleigh: %s", a$rank, conditionMessage(e)))
    FALSE
  })
  if (!ok) quit(save = "no", status = 1)
  g <- globalenv()
  assign("SleighRank", rank, envir = g)
  assign("SleighWorkerCount", as.integer(a$count), envir = g)
  assign("SleighUserNws", user, envir = g)
  assign("SleighNws", ws, envir = g)
  Sys.setenv(NWS_SLEIGH_WORKER = rank)
  .slStore(sess, a$ws, .SL_WORKER_INFO,
           list(rank = rank, host = Sys.info()[["nodename"]], os = Sys.info()[["sysname"]],
                pid = Sys.getpid(), R = R.version.string,
                nws = as.character(utils::packageVersion("nws")), name = a$name))
  w <- new.env(parent = emptyenv())
  w$sess <- sess
  w$ws <- a$ws
  w$rank <- rank
  w$verbose <- isTRUE(a$verbose)
  w$functions <- new.env(parent = emptyenv())
  w$lastBroadcast <- -1L
  w$parent <- if (!is.null(a$parent)) as.integer(a$parent) else NA_integer_
  tryCatch(.slWorkerLoop(w), sleighWorkerStop = function(e) {
    if (w$verbose) message("sleigh worker ", rank, ": exiting: ", conditionMessage(e))
  })
  try(nws_close(sess), silent = TRUE)
  invisible(token)
  quit(save = "no", status = 0)
}

.slWorkerStop <- function(why) {
  stop(structure(class = c("sleighWorkerStop", "error", "condition"),
                 list(message = why, call = NULL)))
}

# An NWS call in a worker: a missing workspace or a dropped session ends the
# worker; a deleted `task` (a requeue) is retried.
.slW <- function(f, ...) {
  repeat {
    r <- f(...)
    if (!inherits(r, "nws_failure")) return(r)
    if (identical(r$reason, "VARIABLE_DELETED")) next
    if (r$reason %in% c("NO_SUCH_WORKSPACE", "DISCONNECTED", "SHUTTING_DOWN", "CONNECT"))
      .slWorkerStop(paste(r$reason, r$message))
    .nwsFail(r, NULL)
  }
}

.slWFunction <- function(w, job) {
  key <- as.character(job)
  f <- w$functions[[key]]
  if (is.null(f)) {
    v <- .slW(nws_retrieve, w$sess, w$ws, .slFunctionVar(job), 3L, -1)
    if (is.null(v)) return(NULL)
    f <- tryCatch(.nwsDecode(v, NULL), error = function(e) list("error", e))
    keys <- ls(w$functions)
    if (length(keys) >= 8L) rm(list = keys[which.min(as.numeric(keys))], envir = w$functions)
    assign(key, f, envir = w$functions)
  }
  f
}

# The calls on the stack when `fun` signalled an error, as text.
.slTraceback <- function(calls) {
  start <- 0L
  for (i in seq_along(calls)) {
    cl <- calls[[i]]
    if (is.call(cl) && identical(cl[[1L]], as.name("do.call")) && identical(cl[[2L]], "FUN")) start <- i
  }
  calls <- if (start > 0L) calls[-seq_len(start)] else calls
  # Drop the condition handling frames at the end.
  keep <- !vapply(calls, function(cl) {
    f <- if (is.call(cl)) cl[[1L]] else NULL
    is.name(f) && as.character(f) %in% c(".handleSimpleError", "h", "stop", ".signalSimpleWarning")
  }, TRUE)
  calls <- calls[keep]
  if (!length(calls)) return("")
  lines <- vapply(seq_along(calls), function(i) {
    d <- paste(deparse(calls[[i]], width.cutoff = 80L, nlines = 2L), collapse = " ")
    if (nchar(d) > 200L) d <- paste0(substr(d, 1L, 197L), "...")
    sprintf("%d: %s", i, d)
  }, "")
  paste(lines, collapse = "\n")
}

.slRemoteError <- function(e, tb) {
  list(message = conditionMessage(e), class = class(e)[[1L]],
       traceback = if (is.null(tb)) "" else tb,
       error = tryCatch({ serialize(e, NULL); e }, error = function(x) NULL),
       rank = get0("SleighRank", envir = globalenv()), host = Sys.info()[["nodename"]],
       pid = Sys.getpid())
}

.slWRun <- function(w, task, spec) {
  kind <- task[[1L]]
  count <- task[[4L]]
  values <- vector("list", count)
  errors <- list()
  if (identical(spec[[1L]], "error")) {
    err <- list(message = paste("the function could not be read:", conditionMessage(spec[[2L]])),
                traceback = "", rank = w$rank, host = Sys.info()[["nodename"]], pid = Sys.getpid())
    for (i in seq_len(count)) errors[[as.character(i)]] <- err
    return(list(task[[2L]], task[[3L]], count, list(values = values, errors = errors), 0))
  }
  fixed <- spec[[3L]]
  permute <- spec[[4L]]
  elements <- if (kind == "W") list(list()) else task[[5L]]
  env <- new.env(parent = globalenv())
  env$FUN <- spec[[2L]]
  plain <- !length(fixed) && is.null(permute)
  cur <- 0L
  tb <- NULL
  # Runs elements i0..count under one handler; a failure is recorded and the
  # run goes on after it (spec/sleigh.md#errors).
  runFrom <- function(i0) {
    tryCatch(withCallingHandlers({
      for (i in i0:count) {
        cur <<- i
        args <- if (plain) elements[[i]] else {
          a <- c(elements[[i]], fixed)
          if (is.null(permute)) a else a[permute]
        }
        v <- do.call("FUN", args, envir = env)
        if (!is.null(v)) values[[i]] <<- v
      }
      count + 1L
    }, error = function(e) tb <<- .slTraceback(sys.calls())),
    error = function(e) {
      errors[[as.character(cur)]] <<- .slRemoteError(e, tb)
      tb <<- NULL
      cur + 1L
    })
  }
  t0 <- proc.time()[[3L]]
  i <- 1L
  while (i <= count) i <- runFrom(i)
  seconds <- proc.time()[[3L]] - t0
  list(task[[2L]], task[[3L]], count, list(values = values, errors = errors), seconds)
}

# `done` with every value that cannot be serialized replaced by a failure.
.slWSendable <- function(w, done) {
  values <- done[[4L]]$values
  errors <- done[[4L]]$errors
  for (i in seq_along(values)) {
    if (inherits(try(serialize(values[[i]], NULL), silent = TRUE), "try-error")) {
      errors[[as.character(i)]] <- list(message = "the result cannot be sent to the master",
                                        traceback = "", rank = w$rank,
                                        host = Sys.info()[["nodename"]], pid = Sys.getpid())
      values[i] <- list(NULL)
    }
  }
  done[[4L]] <- list(values = values, errors = errors)
  done
}

# Stores the worker message (rank, done, start) in `result`, serialized once;
# a result that cannot be serialized becomes a failure of its element.
.slWSend <- function(w, done, start) {
  msg <- tryCatch(serialize(list(w$rank, done, start), NULL), error = function(e) NULL)
  if (is.null(msg)) msg <- serialize(list(w$rank, .slWSendable(w, done), start), NULL)
  .slW(nws_store, w$sess, w$ws, .SL_RESULT, msg, R_SERIALIZE)
  invisible(NULL)
}

.slWorkerLoop <- function(w) {
  carry <- NULL
  repeat {
    if (!is.na(w$parent) && is.null(carry) && !.slParentAlive(w$parent))
      .slWorkerStop("the master is gone")
    got <- .slW(nws_fetch_leased, w$sess, w$ws, .SL_TASK, !is.null(carry), -1)
    if (is.null(got)) {
      .slWSend(w, carry, NULL)
      carry <- NULL
      next
    }
    lease <- got[[2L]]
    task <- tryCatch(.slDecode(got[[1L]]), error = function(e) NULL)
    if (!is.list(task) || length(task) != 5L) {
      nws_lease_settle(lease, TRUE)
      next
    }
    kind <- task[[1L]]
    job <- task[[2L]]
    if (kind == "W" && job <= w$lastBroadcast) {
      nws_lease_settle(lease, TRUE)
      next
    }
    spec <- .slWFunction(w, job)
    if (is.null(spec)) {
      nws_lease_settle(lease, TRUE)
      next
    }
    .slWSend(w, carry, list(job, task[[3L]], task[[4L]]))
    carry <- NULL
    nws_lease_settle(lease, TRUE)
    done <- .slWRun(w, task, spec)
    if (kind == "W") {
      .slWSend(w, done, NULL)
      w$lastBroadcast <- job
      .slW(nws_retrieve, w$sess, w$ws, .slBarrierVar(job), 2L, -1)
    } else {
      carry <- done
    }
  }
}

.slParentAlive <- function(pid) {
  r <- tryCatch(tools::pskill(pid, 0L), error = function(e) TRUE, warning = function(w) TRUE)
  isTRUE(r)
}
