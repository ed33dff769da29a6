# Iterators (spec/iterators.md). nwsIFetch, nwsIFetchTry, nwsIFind and
# nwsIFindTry return a function of no arguments; each call is one iterator
# step on the server, returning the next value. As in the original, the end
# of the iteration is signalled by returning `defaultVal` (NULL for the
# blocking kinds), on this and every later call, without further requests.
# The end comes only when a Try kind finds nothing unread, or the variable
# (or workspace) is deleted; every failure (e.g. ITERATOR_MODE on a LIFO or
# MULTI variable) is raised as an nws_error_* condition and leaves the
# iterator where it was.

# kind: 0 ifetch, 1 ifetchTry, 2 ifind, 3 ifindTry.
.nwsIterator <- function(ws, xName, kind, defaultVal, call) {
  xName <- .nwsName(xName, "variable name", call)
  force(defaultVal)
  sess <- ws@server@session
  wsName <- ws@wsName
  state <- nws_iter_new(kind)
  function() {
    v <- nws_iter_step(sess, wsName, xName, state)
    if (is.null(v)) return(defaultVal)
    if (is.list(v)) .nwsFail(v, sys.call())
    .nwsDecode(v, sys.call())
  }
}

setGeneric("nwsIFetch", function(.Object, xName) standardGeneric("nwsIFetch"))
setMethod("nwsIFetch", "netWorkSpace", function(.Object, xName)
  .nwsIterator(.Object, xName, 0L, NULL, sys.call()))

setGeneric("nwsIFetchTry", function(.Object, xName, defaultVal = NULL) standardGeneric("nwsIFetchTry"))
setMethod("nwsIFetchTry", "netWorkSpace", function(.Object, xName, defaultVal = NULL)
  .nwsIterator(.Object, xName, 1L, defaultVal, sys.call()))

setGeneric("nwsIFind", function(.Object, xName) standardGeneric("nwsIFind"))
setMethod("nwsIFind", "netWorkSpace", function(.Object, xName)
  .nwsIterator(.Object, xName, 2L, NULL, sys.call()))

setGeneric("nwsIFindTry", function(.Object, xName, defaultVal = NULL) standardGeneric("nwsIFindTry"))
setMethod("nwsIFindTry", "netWorkSpace", function(.Object, xName, defaultVal = NULL)
  .nwsIterator(.Object, xName, 3L, defaultVal, sys.call()))
