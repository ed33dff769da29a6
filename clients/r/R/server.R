# nwsServer: a session with an NWS server, and the workspace-level
# operations (open, use, mktemp, delete, list). API and argument names as in
# the original package (cran/nws 1.7); semantics per spec/workspaces.md.

# The defaults come from NWS_HOST / NWS_PORT when set (an empty value
# counts as unset); a port may be given as a string.
.nwsHostArg <- function(host) {
  if (is.character(host) && length(host) == 1L && !is.na(host) && !nzchar(trimws(host)))
    "localhost" else host
}

.nwsPortArg <- function(port) {
  if (is.character(port) && length(port) == 1L && !is.na(port)) {
    if (!nzchar(trimws(port))) return(8765)
    n <- suppressWarnings(as.numeric(port))
    if (!is.na(n)) return(n)
  }
  port
}

.nwsAddress <- function(host, port) {
  if (grepl(":", host, fixed = TRUE) && !startsWith(host, "[") && !grepl("://", host, fixed = TRUE))
    host <- paste0("[", host, "]")
  paste0(host, ":", format(port, scientific = FALSE))
}

.nwsLabel <- function() {
  paste("R nws", utils::packageVersion("nws"))
}

setClass("nwsServer",
         representation(serverHost = "character", port = "numeric",
                        session = "ANY", cookieProtocol = "logical"),
         prototype(serverHost = "localhost", port = 8765, session = NULL,
                   cookieProtocol = TRUE))

setMethod("initialize", "nwsServer",
          function(.Object, serverHost = Sys.getenv("NWS_HOST", "localhost"), port = Sys.getenv("NWS_PORT", 8765),
                   .call = NULL) {
            call <- if (is.null(.call)) quote(new("nwsServer")) else .call
            serverHost <- .nwsName(.nwsHostArg(serverHost), "serverHost", call)
            port <- .nwsPortArg(port)
            if (!is.numeric(port) || length(port) != 1L || is.na(port) ||
                port < 1 || port > 65535 || port != round(port))
              stop(simpleError("port must be a port number (1 to 65535)", call))
            .Object@serverHost <- serverHost
            .Object@port <- as.numeric(port)
            ptr <- .nwsCheck(nws_connect(.nwsAddress(serverHost, port), .nwsLabel()), call)
            # End the session cleanly when R exits (lets acknowledgements
            # out first); dropping the pointer ends it too.
            reg.finalizer(ptr, function(p) try(nws_close(p), silent = TRUE), onexit = TRUE)
            .Object@session <- ptr
            .Object@cookieProtocol <- TRUE
            .Object
          })

nwsServer <- function(serverHost = Sys.getenv("NWS_HOST", "localhost"), port = Sys.getenv("NWS_PORT", 8765)) {
  new("nwsServer", serverHost = serverHost, port = port, .call = sys.call())
}

setMethod("show", "nwsServer", function(object) {
  open <- !is.null(object@session) && nws_is_open(object@session)
  cat("NWS server ", object@serverHost, ":", format(object@port, scientific = FALSE),
      if (open) "" else " (closed)", "\n", sep = "")
  invisible(object)
})

.nwsSession <- function(server) {
  if (is.null(server@session))
    stop("this nwsServer object was never connected")
  server@session
}

.nwsOpenOptions <- function(opts, call) {
  unrecog <- setdiff(names(opts), c("create", "persistent"))
  if (length(unrecog) > 0L || (length(opts) > 0L && is.null(names(opts))))
    stop(simpleError(paste0("unused argument(s) ", paste(unrecog, collapse = ", ")), call))
  list(create = if (is.null(opts$create)) TRUE else .nwsFlag(opts$create, "create", call),
       persistent = if (is.null(opts$persistent)) FALSE
                    else .nwsFlag(opts$persistent, "persistent", call))
}

# Opens (useOnly = FALSE) or uses a workspace; answers the netWorkSpace.
.nwsOpen <- function(server, wsName, space, useOnly, opts, call) {
  wsName <- .nwsName(wsName, "wsName", call)
  o <- .nwsOpenOptions(opts, call)
  r <- .nwsCheck(nws_open_ws(.nwsSession(server), wsName, useOnly, !o$create, o$persistent), call)
  if (is.null(space)) {
    space <- new("netWorkSpace", wsName = r$name, serverWrap = list(server = server))
  }
  space
}

setGeneric("nwsOpenWs", function(.Object, wsName, space = NULL, ...) standardGeneric("nwsOpenWs"))
setMethod("nwsOpenWs", "nwsServer", function(.Object, wsName, space = NULL, ...) {
  .nwsOpen(.Object, wsName, space, FALSE, list(...), sys.call())
})

setGeneric("nwsUseWs", function(.Object, wsName, space = NULL, ...) standardGeneric("nwsUseWs"))
setMethod("nwsUseWs", "nwsServer", function(.Object, wsName, space = NULL, ...) {
  .nwsOpen(.Object, wsName, space, TRUE, list(...), sys.call())
})

setGeneric("nwsMktempWs", function(.Object, wsNameTemplate = "__Rws__%010d", ...)
  standardGeneric("nwsMktempWs"))
setMethod("nwsMktempWs", "nwsServer", function(.Object, wsNameTemplate = "__Rws__%010d", ...) {
  call <- sys.call()
  if (!is.character(wsNameTemplate) || length(wsNameTemplate) != 1L || is.na(wsNameTemplate))
    stop(simpleError("workspace name must be a string", call))
  o <- .nwsOpenOptions(list(...), call)
  # The server fills in %d and zero-padded %0Nd (the original default
  # __Rws__%010d) itself (spec/workspaces.md#mktempws).
  r <- .nwsCheck(nws_mktemp_ws(.nwsSession(.Object), enc2utf8(wsNameTemplate), o$persistent), call)
  r$name
})

setGeneric("nwsDeleteWs", function(.Object, wsName) standardGeneric("nwsDeleteWs"))
setMethod("nwsDeleteWs", "nwsServer", function(.Object, wsName) {
  call <- sys.call()
  wsName <- .nwsName(wsName, "wsName", call)
  .nwsCheck(nws_delete_ws(.nwsSession(.Object), wsName), call)
  invisible(NULL)
})

setGeneric("nwsListWss", function(.Object, showDataFrame = FALSE) standardGeneric("nwsListWss"))
setMethod("nwsListWss", "nwsServer", function(.Object, showDataFrame = FALSE) {
  call <- sys.call()
  sess <- .nwsSession(.Object)
  l <- .nwsCheck(nws_list_wss(sess), call)
  vars <- vapply(l$name, function(n) {
    v <- nws_list_vars(sess, n)
    if (inherits(v, "nws_failure")) "" else paste(v$name, collapse = ",")
  }, "", USE.NAMES = FALSE)
  if (isTRUE(showDataFrame)) {
    return(data.frame(Owned = l$mine, Name = l$name, Owner = l$owner,
                      Persistent = l$persistent, NumVariables = as.integer(l$variable_count),
                      Variables = vars, stringsAsFactors = FALSE))
  }
  if (length(l$name) == 0L) return("")
  paste0(paste0(ifelse(l$mine, ">", " "), l$name, "\t", l$owner, "\t",
                ifelse(l$persistent, "True", "False"), "\t", l$variable_count, "\t", vars),
         collapse = "\n")
})

setGeneric("nwsClose", function(.Object) standardGeneric("nwsClose"))
setMethod("nwsClose", "nwsServer", function(.Object) {
  .nwsCheck(nws_close(.nwsSession(.Object)), sys.call())
  invisible(NULL)
})

setMethod("close", "nwsServer", function(con, ...) {
  .nwsCheck(nws_close(.nwsSession(con)), sys.call())
  invisible(NULL)
})

nwsPkgInfo <- function() {
  c(name = "nws", version = as.character(utils::packageVersion("nws")))
}
