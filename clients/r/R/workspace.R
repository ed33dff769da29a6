# netWorkSpace: a workspace on a server, and the variable operations
# (store, fetch, find, declare, delete, list, iterate). API and argument
# names as in the original package (cran/nws 1.7); semantics per
# spec/operations.md. Every call is one request on the server object's
# session; blocking calls can be interrupted (Ctrl-C), which withdraws the
# request without losing a value.

setClass("netWorkSpace",
         representation(server = "nwsServer", wsName = "character",
                        cookieProtocol = "logical"),
         prototype(wsName = "__default", cookieProtocol = TRUE))

.nwsServerFromWrap <- function(serverWrap) {
  if (is(serverWrap, "nwsServer")) return(serverWrap)
  s <- if (is.environment(serverWrap) || is.list(serverWrap)) serverWrap$server else NULL
  if (!is(s, "nwsServer"))
    stop("serverWrap must be an nwsServer, or an environment or list holding one as $server")
  s
}

setMethod("initialize", "netWorkSpace",
          function(.Object, wsName = "__default", serverHost = Sys.getenv("NWS_HOST", "localhost"),
                   port = Sys.getenv("NWS_PORT", 8765), useUse = FALSE, serverWrap = NULL, ...,
                   .call = NULL) {
            call <- if (is.null(.call)) quote(new("netWorkSpace")) else .call
            wsName <- .nwsName(wsName, "wsName", call)
            useUse <- .nwsFlag(useUse, "useUse", call)
            .Object@wsName <- wsName
            .Object@cookieProtocol <- TRUE
            if (!is.null(serverWrap)) {
              # Reuse a session (nwsOpenWs / nwsUseWs): they have opened it.
              .Object@server <- .nwsServerFromWrap(serverWrap)
              return(.Object)
            }
            server <- new("nwsServer", serverHost = serverHost, port = port, .call = call)
            ok <- FALSE
            on.exit(if (!ok) try(nws_close(server@session), silent = TRUE))
            .nwsOpen(server, wsName, .Object, useUse, list(...), call)
            ok <- TRUE
            .Object@server <- server
            .Object
          })

netWorkSpace <- function(wsName = "__default", serverHost = Sys.getenv("NWS_HOST", "localhost"),
                         port = Sys.getenv("NWS_PORT", 8765), useUse = FALSE, serverWrap = NULL, ...) {
  new("netWorkSpace", wsName = wsName, serverHost = serverHost, port = port,
      useUse = useUse, serverWrap = serverWrap, ..., .call = sys.call())
}

setMethod("show", "netWorkSpace", function(object) {
  cat("\n")
  cat("NWS Host:\t", object@server@serverHost, ":",
      format(object@server@port, scientific = FALSE), "\n", sep = "")
  cat("Workspace Name:\t", object@wsName, "\n", sep = "")
  cat("\n")
  invisible(object)
})

setGeneric("nwsWsName", function(.Object) standardGeneric("nwsWsName"))
setMethod("nwsWsName", "netWorkSpace", function(.Object) .Object@wsName)

setGeneric("nwsServerObject", function(.Object) standardGeneric("nwsServerObject"))
setMethod("nwsServerObject", "netWorkSpace", function(.Object) .Object@server)

setMethod("nwsClose", "netWorkSpace", function(.Object) {
  .nwsCheck(nws_close(.nwsSession(.Object@server)), sys.call())
  invisible(NULL)
})

setGeneric("nwsStore", function(.Object, xName, xVal) standardGeneric("nwsStore"))
setMethod("nwsStore", "netWorkSpace", function(.Object, xName, xVal) {
  call <- sys.call()
  if (missing(xVal)) stop(simpleError("no value specified for xVal argument", call))
  e <- .nwsEncode(xVal)
  r <- nws_store(.Object@server@session, .Object@wsName, .nwsName(xName, "xName", call),
                 e[[1L]], e[[2L]])
  if (!is.null(r)) .nwsFail(r, call)
  invisible(NULL)
})

# op: 0 fetch, 1 fetchTry, 2 find, 3 findTry (see nws_retrieve).
.nwsRetrieve <- function(ws, xName, op, timeout, call) {
  v <- nws_retrieve(ws@server@session, ws@wsName, .nwsName(xName, "xName", call), op,
                    .nwsTimeout(timeout, call))
  if (is.list(v)) .nwsFail(v, call)
  v
}

setGeneric("nwsFetch", function(.Object, xName, timeout = NULL) standardGeneric("nwsFetch"))
setMethod("nwsFetch", "netWorkSpace", function(.Object, xName, timeout = NULL) {
  call <- sys.call()
  .nwsDecode(.nwsRetrieve(.Object, xName, 0L, timeout, call), call)
})

setGeneric("nwsFetchTry", function(.Object, xName, defaultVal = NULL) standardGeneric("nwsFetchTry"))
setMethod("nwsFetchTry", "netWorkSpace", function(.Object, xName, defaultVal = NULL) {
  call <- sys.call()
  v <- .nwsRetrieve(.Object, xName, 1L, NULL, call)
  if (is.null(v)) defaultVal else .nwsDecode(v, call)
})

setGeneric("nwsFind", function(.Object, xName, timeout = NULL) standardGeneric("nwsFind"))
setMethod("nwsFind", "netWorkSpace", function(.Object, xName, timeout = NULL) {
  call <- sys.call()
  .nwsDecode(.nwsRetrieve(.Object, xName, 2L, timeout, call), call)
})

setGeneric("nwsFindTry", function(.Object, xName, defaultVal = NULL) standardGeneric("nwsFindTry"))
setMethod("nwsFindTry", "netWorkSpace", function(.Object, xName, defaultVal = NULL) {
  call <- sys.call()
  v <- .nwsRetrieve(.Object, xName, 3L, NULL, call)
  if (is.null(v)) defaultVal else .nwsDecode(v, call)
})

setGeneric("nwsDeclare", function(.Object, xName, mode) standardGeneric("nwsDeclare"))
setMethod("nwsDeclare", "netWorkSpace", function(.Object, xName, mode) {
  call <- sys.call()
  if (missing(mode)) stop(simpleError("no value specified for mode argument", call))
  mode <- .nwsName(mode, "mode", call)
  .nwsCheck(nws_declare(.Object@server@session, .Object@wsName,
                        .nwsName(xName, "xName", call), mode), call)
  invisible(NULL)
})

setGeneric("nwsDeleteVar", function(.Object, xName) standardGeneric("nwsDeleteVar"))
setMethod("nwsDeleteVar", "netWorkSpace", function(.Object, xName) {
  call <- sys.call()
  .nwsCheck(nws_delete_var(.Object@server@session, .Object@wsName,
                           .nwsName(xName, "xName", call)), call)
  invisible(NULL)
})

setGeneric("nwsListVars", function(.Object, wsName = "", showDataFrame = FALSE)
  standardGeneric("nwsListVars"))
setMethod("nwsListVars", "netWorkSpace", function(.Object, wsName = "", showDataFrame = FALSE) {
  call <- sys.call()
  wsName <- .nwsName(wsName, "wsName", call)
  if (!nzchar(wsName)) wsName <- .Object@wsName
  l <- .nwsCheck(nws_list_vars(.Object@server@session, wsName), call)
  if (isTRUE(showDataFrame)) {
    return(data.frame(Variable = l$name, NumValues = as.integer(l$value_count),
                      NumFetchers = as.integer(l$fetchers), NumFinders = as.integer(l$finders),
                      Mode = l$mode, stringsAsFactors = FALSE))
  }
  if (length(l$name) == 0L) return("")
  paste0(l$name, "\t", l$value_count, "\t", l$fetchers, "\t", l$finders, "\t", l$mode,
         collapse = "\n")
})

# --- files ----------------------------------------------------------------

setGeneric("nwsStoreFile", function(.Object, xName, fObj, n = 0) standardGeneric("nwsStoreFile"))
setMethod("nwsStoreFile", "netWorkSpace", function(.Object, xName, fObj, n = 0) {
  call <- sys.call()
  if (missing(fObj)) stop(simpleError("no value specified for fObj argument", call))
  if (is.character(fObj)) {
    f <- file(fObj, "rb")
    on.exit(close(f))
  } else {
    if (!inherits(fObj, "connection") || !isOpen(fObj, "r") || summary(fObj)$text != "binary")
      stop(simpleError("fObj must be a file name or a binary connection open for reading", call))
    f <- fObj
  }
  chunks <- list()
  total <- 0
  want <- if (n > 0) n else Inf
  repeat {
    d <- readBin(f, "raw", n = min(want - total, 1048576))
    if (length(d) == 0L) break
    chunks[[length(chunks) + 1L]] <- d
    total <- total + length(d)
    if (total >= want) break
  }
  if (total == 0) return(FALSE)
  r <- nws_store(.Object@server@session, .Object@wsName, .nwsName(xName, "xName", call),
                 do.call(c, chunks), "")
  if (!is.null(r)) .nwsFail(r, call)
  TRUE
})

.nwsRetrieveFile <- function(ws, xName, op, fObj, call) {
  if (missing(fObj)) stop(simpleError("no value specified for fObj argument", call))
  v <- .nwsRetrieve(ws, xName, op, NULL, call)
  if (is.null(v)) return(FALSE)
  bytes <- if (is.character(v)) charToRaw(v) else { attributes(v) <- NULL; v }
  if (is.character(fObj)) {
    f <- file(fObj, "wb")
    on.exit(close(f))
  } else {
    if (!inherits(fObj, "connection") || !isOpen(fObj, "w") || summary(fObj)$text != "binary")
      stop(simpleError("fObj must be a file name or a binary connection open for writing", call))
    f <- fObj
  }
  writeBin(bytes, f)
  TRUE
}

setGeneric("nwsFetchFile", function(.Object, xName, fObj) standardGeneric("nwsFetchFile"))
setMethod("nwsFetchFile", "netWorkSpace", function(.Object, xName, fObj)
  .nwsRetrieveFile(.Object, xName, 0L, fObj, sys.call()))

setGeneric("nwsFetchTryFile", function(.Object, xName, fObj) standardGeneric("nwsFetchTryFile"))
setMethod("nwsFetchTryFile", "netWorkSpace", function(.Object, xName, fObj)
  .nwsRetrieveFile(.Object, xName, 1L, fObj, sys.call()))

setGeneric("nwsFindFile", function(.Object, xName, fObj) standardGeneric("nwsFindFile"))
setMethod("nwsFindFile", "netWorkSpace", function(.Object, xName, fObj)
  .nwsRetrieveFile(.Object, xName, 2L, fObj, sys.call()))

setGeneric("nwsFindTryFile", function(.Object, xName, fObj) standardGeneric("nwsFindTryFile"))
setMethod("nwsFindTryFile", "netWorkSpace", function(.Object, xName, fObj)
  .nwsRetrieveFile(.Object, xName, 3L, fObj, sys.call()))

# --- active bindings -------------------------------------------------------

setGeneric("nwsVariable", function(.Object, xName, mode = c("fifo", "lifo", "multi", "single"),
                                   env = parent.frame(), force = FALSE, quietly = FALSE)
  standardGeneric("nwsVariable"))
setMethod("nwsVariable", "netWorkSpace",
          function(.Object, xName, mode = c("fifo", "lifo", "multi", "single"),
                   env = parent.frame(), force = FALSE, quietly = FALSE) {
  call <- sys.call()
  xName <- .nwsName(xName, "xName", call)
  missingMode <- missing(mode)
  mode <- match.arg(mode)
  # `exists` would call an active binding's function: check for one first.
  bound <- tryCatch(bindingIsActive(xName, env), error = function(e) FALSE) ||
    exists(xName, envir = env, inherits = FALSE)
  if (!force && bound) {
    if (!quietly) warning("not overwriting previous binding for ", xName)
    return(invisible(NULL))
  }
  sess <- .Object@server@session
  ws <- .Object@wsName
  if (missingMode) {
    # Take the variable's mode if it exists, else declare the default.
    declared <- NA_character_
    for (m in c(mode, "lifo", "multi", "single")) {
      r <- nws_declare(sess, ws, xName, m)
      if (is.null(r)) { declared <- m; break }
      if (!identical(r$reason, "MODE_CONFLICT")) .nwsFail(r, call)
    }
    if (is.na(declared)) stop(simpleError("unable to declare variable", call))
    mode <- declared
  } else {
    .nwsCheck(nws_declare(sess, ws, xName, mode), call)
  }
  op <- if (identical(mode, "single")) 2L else 0L
  f <- function(val) {
    if (missing(val)) {
      v <- nws_retrieve(sess, ws, xName, op, -1)
      if (is.list(v)) .nwsFail(v, sys.call())
      .nwsDecode(v, sys.call())
    } else {
      e <- .nwsEncode(val)
      r <- nws_store(sess, ws, xName, e[[1L]], e[[2L]])
      if (!is.null(r)) .nwsFail(r, sys.call())
      invisible(val)
    }
  }
  if (bound) suppressWarnings(rm(list = xName, envir = env))
  makeActiveBinding(xName, f, env)
  invisible(NULL)
})
