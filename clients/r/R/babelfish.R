# The R babelfish (spec/babelfish.md): shows R values (codec r/serialize)
# in the NetWorkSpaces web UI.
#
#   Rscript -e 'nws::babelfish("localhost", 8765)'
#
# An ordinary client: it opens the workspace "R babelfish", fetches
# translation requests from the variable `food` (raw bytes: a header line
# `nws-babelfish 1 <id> <codec> <max_chars>`, a newline, then the value's
# bytes) and stores each answer into `doof` as text, `<id> ok` or
# `<id> error`, a newline, then what to show: print() output for most
# objects, str() output for lists. It reconnects when the server is not up
# yet or restarts; Ctrl-C stops it.
#
# Safety: unserialize() builds data and evaluates nothing; print() then
# dispatches on the object's class to methods of the packages this R
# process has loaded (base packages, nws), never to code in the value.

BABELFISH_WS <- "R babelfish"

babelfish <- function(host = Sys.getenv("NWS_HOST", "localhost"),
                      port = Sys.getenv("NWS_PORT", 8765),
                      quiet = FALSE, seconds = 10) {
  say <- function(...) if (!isTRUE(quiet)) message("nws::babelfish: ", ...)
  open <- function() {
    ws <- netWorkSpace(BABELFISH_WS, serverHost = host, port = port)
    nwsDeclare(ws, "food", "FIFO")
    nwsDeclare(ws, "doof", "FIFO")
    ws
  }
  waiting <- FALSE
  repeat {
    ws <- tryCatch(open(), nws_error = function(e) e)
    if (inherits(ws, "nws_error")) {
      if (!waiting) say("waiting for the server (", conditionMessage(ws), ")")
      waiting <- TRUE
      Sys.sleep(1)
      next
    }
    waiting <- FALSE
    say("serving '", BABELFISH_WS, "' on ", host, ":", port)
    lost <- tryCatch({
      repeat {
        req <- tryCatch(nwsFetch(ws, "food"),
                        nws_error_no_such_workspace = function(e) NULL)
        if (is.null(req)) {
          # Deleted (from the web UI, say): open it again.
          try(nwsClose(ws), silent = TRUE)
          ws <- open()
          next
        }
        reply <- .nwsBabelAnswer(req, seconds)
        if (!is.null(reply))
          tryCatch(nwsStore(ws, "doof", reply),
                   nws_error_no_such_workspace = function(e) NULL)
      }
    }, nws_error = function(e) e)
    say("lost the server (", conditionMessage(lost), "); reconnecting")
    try(nwsClose(ws), silent = TRUE)
    Sys.sleep(1)
  }
}

# The answer to one request, or NULL for something that is not a request.
.nwsBabelAnswer <- function(req, seconds = 10) {
  if (!is.raw(req)) return(NULL)
  nl <- match(as.raw(10L), req)
  if (is.na(nl)) return(NULL)
  head <- rawToChar(req[seq_len(nl - 1L)])
  parts <- strsplit(head, " ", fixed = TRUE)[[1L]]
  if (length(parts) < 3L || parts[1L] != "nws-babelfish") return(NULL)
  id <- parts[3L]
  if (!grepl("^[0-9]+$", id)) return(NULL)
  if (parts[2L] != "1")
    return(paste0(id, " error\nunsupported request version ", parts[2L]))
  codec <- if (length(parts) >= 4L) parts[4L] else ""
  maxChars <- if (length(parts) >= 5L) suppressWarnings(as.integer(parts[5L])) else NA_integer_
  if (is.na(maxChars) || maxChars < 1L) maxChars <- 10000L
  if (!identical(codec, "r/serialize"))
    return(paste0(id, " error\nthe R babelfish does not read ", codec))
  payload <- if (nl < length(req)) req[(nl + 1L):length(req)] else raw(0)
  out <- .nwsBabelShow(payload, maxChars, seconds)
  paste0(id, if (out$ok) " ok\n" else " error\n", out$text)
}

# list(ok, text): the value unserialized and printed, or why not.
.nwsBabelShow <- function(payload, maxChars = 10000L, seconds = 10) {
  setTimeLimit(elapsed = seconds, transient = TRUE)
  on.exit(setTimeLimit(elapsed = Inf), add = TRUE)
  obj <- tryCatch(unserialize(payload), error = function(e) e)
  if (inherits(obj, "error"))
    return(list(ok = FALSE, text = paste0("cannot unserialize: ", conditionMessage(obj))))
  text <- tryCatch(.nwsBabelPrint(obj), error = function(e) e)
  if (inherits(text, "error"))
    return(list(ok = FALSE, text = paste0("cannot print: ", conditionMessage(text))))
  if (nchar(text, type = "chars") > maxChars)
    text <- paste0(substr(text, 1L, maxChars), "\n... (cut short)")
  list(ok = TRUE, text = text)
}

.nwsBabelPrint <- function(obj) {
  old <- options(width = 100L, max.print = 2000L, warn = -1L, digits = 7L)
  on.exit(options(old), add = TRUE)
  lines <- if (is.list(obj) && !is.data.frame(obj) && is.null(attr(obj, "class"))) {
    utils::capture.output(utils::str(obj, max.level = 4L, vec.len = 6L, list.len = 100L,
                                     give.attr = FALSE))
  } else if (is.data.frame(obj) && nrow(obj) > 50L) {
    c(utils::capture.output(print(utils::head(obj, 50L))),
      sprintf("... %d more rows (%d rows, %d columns in all)", nrow(obj) - 50L,
              nrow(obj), ncol(obj)))
  } else {
    utils::capture.output(print(obj))
  }
  enc2utf8(paste(lines, collapse = "\n"))
}
