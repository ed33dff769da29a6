# The conformance suite's R executor: one session through the nws package.
#
# Reads steps as JSON lines on stdin ({"id": 7, "op": "fetch", "ws": "w",
# "var": "x"}) and answers each with one JSON line on stdout ({"id": 7,
# "result": {...}}); the protocol is described in conformance-tests/README.md.
#
# R runs one call at a time: a blocking step (a waiting fetch) blocks this
# process until it is answered, exactly as it blocks an R program. The
# runner knows (no "concurrent" capability) and sends nothing else to an R
# session while one of its steps is outstanding. A step is cancelled the way
# an R user does it: SIGINT (Ctrl-C), which the client turns into a Cancel
# and an interrupt condition (spec/sessions.md#cancel).

suppressPackageStartupMessages({
  library(nws)
  library(jsonlite)
})

INLINE_LIMIT <- 4096
CAPS <- c("cancel", "handle_without_open")
MISSING <- new.env()
CATALOG <- c("NO_SUCH_WORKSPACE", "MODE_CONFLICT", "INVALID_NAME", "INVALID_MODE", "VARIABLE_DELETED",
             "TIMED_OUT", "TOO_LARGE", "MEMORY_LIMIT", "ITERATOR_MODE", "INVALID_ARGUMENT",
             "CANCELLED", "SHUTTING_DOWN", "PROTOCOL_ERROR", "INVALID_CURSOR", "INTERNAL")  # a default no fetched value can be identical() to

out <- stdout()
send <- function(obj) {
  writeLines(as.character(toJSON(obj, auto_unbox = TRUE, null = "null", digits = NA,
                                 na = "null")), out, useBytes = TRUE)
  flush(out)
}

state <- new.env()
state$server <- NULL
state$handles <- list()
state$iters <- list()

harness <- function(msg) stop(structure(class = c("harness_error", "error", "condition"),
                                        list(message = msg, call = NULL)))

# --- values -------------------------------------------------------------------

gen_codes <- function(size, seed, modulus) {
  i <- if (size > 0) 0:(size - 1) else numeric(0)
  (i * 7 + seed * 13 + i %/% 256) %% modulus
}

unhex <- function(h) {
  if (!nzchar(h)) return(raw(0))
  as.raw(strtoi(substring(h, seq(1, nchar(h) - 1, 2), seq(2, nchar(h), 2)), 16L))
}

make_value <- function(spec) {
  if (!is.null(spec$text)) return(enc2utf8(spec$text))
  if ("text" %in% names(spec)) return("")
  if (!is.null(spec$raw)) return(unhex(spec$raw))
  if ("native" %in% names(spec)) return(spec$native)  # serialize()d by the client
  if ("json" %in% names(spec))
    return(nwsBlob(charToRaw(enc2utf8(as.character(toJSON(spec$json, auto_unbox = TRUE,
                                                            null = "null", digits = NA)))),
                   "json"))
  if (!is.null(spec$blob)) return(nwsBlob(unhex(spec$blob$hex), spec$blob$codec))
  if (!is.null(spec$gen)) {
    g <- spec$gen
    seed <- if (is.null(g$seed)) 0 else g$seed
    if (identical(g$kind, "text"))
      return(rawToChar(as.raw(32 + gen_codes(g$size, seed, 95))))
    return(as.raw(gen_codes(g$size, seed, 256)))
  }
  harness("bad value spec")
}

digest <- function(b) {
  f <- tempfile()
  on.exit(unlink(f))
  writeBin(b, f)
  list(size = length(b), md5 = unname(tools::md5sum(f)),
       head = paste(as.character(b[seq_len(min(16, length(b)))]), collapse = ""))
}

report <- function(v) {
  if (is.character(v) && length(v) == 1L && is.null(attributes(v))) {
    b <- charToRaw(enc2utf8(v))
    if (length(b) <= INLINE_LIMIT) return(list(value = list(text = enc2utf8(v))))
    return(list(value = list(text_digest = digest(b))))
  }
  if (is.raw(v) && is.null(attributes(v))) {
    if (length(v) <= INLINE_LIMIT) return(list(value = list(raw = paste(as.character(v), collapse = ""))))
    return(list(value = list(raw_digest = digest(v))))
  }
  list(value = list(native = v))
}

error_report <- function(e) {
  if (inherits(e, "harness_error")) return(list(harness_error = conditionMessage(e)))
  if (inherits(e, "nws_error")) {
    if (identical(e$reason, "DECODE"))
      return(list(undecodable = list(codec = e$codec, size = length(e$value), classes = class(e))))
    if (!(e$reason %in% CATALOG)) {
      # A client-side reason of this binding (DISCONNECTED, CONNECT, ...).
      kind <- if (identical(e$reason, "DISCONNECTED")) "dropped" else tolower(e$reason)
      return(list(error = list(reason = NULL, client_reason = e$reason, kind = kind,
                               classes = class(e), message = conditionMessage(e))))
    }
    return(list(error = list(reason = e$reason, kind = "server", classes = class(e),
                             message = conditionMessage(e))))
  }
  list(error = list(reason = NULL, kind = "client", classes = class(e), message = conditionMessage(e)))
}

# --- steps --------------------------------------------------------------------

handle <- function(req) {
  h <- state$handles[[req$ws]]
  if (is.null(h)) harness(sprintf("no handle for workspace '%s': open, use or handle it first", req$ws))
  h
}

srv <- function() {
  if (is.null(state$server)) harness("not connected")
  state$server
}

tmo <- function(req) if (is.null(req$timeout_ms)) NULL else req$timeout_ms / 1000

flag <- function(x, default) if (is.null(x)) default else isTRUE(x)

vars_of <- function(df) {
  if (!is.data.frame(df) || nrow(df) == 0L) return(list())
  lapply(seq_len(nrow(df)), function(i)
    list(name = df$Variable[i], value_count = df$NumValues[i], fetchers = df$NumFetchers[i],
         finders = df$NumFinders[i], mode = df$Mode[i]))
}

wss_of <- function(df) {
  if (!is.data.frame(df) || nrow(df) == 0L) return(list())
  lapply(seq_len(nrow(df)), function(i)
    list(name = df$Name[i], mine = df$Owned[i], owner = df$Owner[i],
         persistent = df$Persistent[i], variable_count = df$NumVariables[i]))
}

step <- function(req) {
  op <- req$op
  switch(op,
    connect = {
      parts <- regmatches(req$addr, regexec("^(.*):([0-9]+)$", req$addr))[[1]]
      state$server <- nwsServer(parts[2], as.numeric(parts[3]))
      list(ok = TRUE)
    },
    reset = {
      if (!is.null(state$server)) try(close(state$server), silent = TRUE)
      state$server <- NULL
      state$handles <- list()
      state$iters <- list()
      list(ok = TRUE)
    },
    close = { close(srv()); list(ok = TRUE) },
    open = , use = {
      f <- if (op == "open") nwsOpenWs else nwsUseWs
      ws <- f(srv(), req$ws, persistent = flag(req$persistent, FALSE), create = flag(req$create, TRUE))
      state$handles[[req$ws]] <- ws
      list(ok = TRUE)
    },
    handle = {
      # A handle without a request: variable operations name their workspace.
      state$handles[[req$ws]] <- netWorkSpace(req$ws, serverWrap = list(server = srv()))
      list(ok = TRUE)
    },
    mktemp = {
      name <- if (is.null(req$template)) nwsMktempWs(srv(), persistent = flag(req$persistent, FALSE))
              else nwsMktempWs(srv(), req$template, persistent = flag(req$persistent, FALSE))
      state$handles[[name]] <- nwsUseWs(srv(), name)
      list(name = name)
    },
    delete_ws = { nwsDeleteWs(srv(), req$ws); list(ok = TRUE) },
    list_wss = list(wss = wss_of(nwsListWss(srv(), showDataFrame = TRUE))),
    declare = { nwsDeclare(handle(req), req$var, req$mode); list(ok = TRUE) },
    store = { nwsStore(handle(req), req$var, make_value(req$value)); list(ok = TRUE) },
    fetch = report(nwsFetch(handle(req), req$var, timeout = tmo(req))),
    find = report(nwsFind(handle(req), req$var, timeout = tmo(req))),
    fetch_try = , find_try = {
      f <- if (op == "fetch_try") nwsFetchTry else nwsFindTry
      v <- f(handle(req), req$var, MISSING)
      if (identical(v, MISSING)) list(nothing = TRUE) else report(v)
    },
    relay = {
      # Fetch a value and store it again as received: decoded, or (for a
      # value R cannot decode) the nws_blob the condition carries.
      ws <- handle(req)
      how <- "decoded"
      v <- tryCatch(nwsFetch(ws, req$var), nws_error_decode = function(e) {
        how <<- "undecodable"
        e$value
      })
      nwsStore(ws, req$to, v)
      list(ok = TRUE, relayed = how)
    },
    delete_var = { nwsDeleteVar(handle(req), req$var); list(ok = TRUE) },
    list_vars = list(vars = vars_of(nwsListVars(handle(req), showDataFrame = TRUE))),
    iter = {
      ws <- handle(req)
      if (!is.null(req$timeout_ms)) harness("R iterators take no timeout")
      it <- switch(req$kind,
                   ifetch = nwsIFetch(ws, req$var),
                   ifind = nwsIFind(ws, req$var),
                   ifetchTry = nwsIFetchTry(ws, req$var, MISSING),
                   ifindTry = nwsIFindTry(ws, req$var, MISSING),
                   harness(paste("unknown iterator kind", req$kind)))
      state$iters[[req$it]] <- it
      list(ok = TRUE)
    },
    `next` = {
      it <- state$iters[[req$it]]
      if (is.null(it)) harness(paste("no iterator", req$it))
      v <- it()
      # The blocking kinds end with NULL, the Try kinds with defaultVal.
      if (is.null(v) || identical(v, MISSING)) list(nothing = TRUE) else report(v)
    },
    harness(paste("unknown op", op)))
}

run <- function(req) {
  tryCatch(step(req),
           interrupt = function(e) list(cancelled = TRUE),
           error = function(e) error_report(e))
}

send(list(ready = TRUE, lang = "r", caps = CAPS))
con <- file("stdin", open = "r", encoding = "UTF-8")
repeat {
  # A Ctrl-C that arrives after its step has finished is ignored.
  line <- tryCatch(readLines(con, n = 1L, encoding = "UTF-8"), interrupt = function(e) NA_character_)
  if (length(line) == 0L) break
  if (is.na(line)) next
  if (!nzchar(trimws(line))) next
  req <- tryCatch(fromJSON(line, simplifyVector = FALSE), error = function(e) NULL)
  if (is.null(req)) { send(list(id = NULL, result = list(harness_error = "bad json"))); next }
  if (identical(req$op, "exit")) break
  result <- run(req)
  send(list(id = req$id, result = result))
}
