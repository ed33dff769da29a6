# Values (spec/values.md): how R objects travel.
#
#   character(1), not NA, no attributes  -> TEXT  (a Python str, a Rust String)
#   raw vector without attributes        -> RAW   (Python bytes, Rust Vec<u8>)
#   an nws_blob (a value R could not decode, fetched earlier)
#                                        -> BLOB with its own codec, unchanged
#   anything else                        -> BLOB, codec "r/serialize" (serialize())
#
# Fetched: TEXT is a character(1) (UTF-8), RAW a raw vector, an r/serialize
# blob is unserialize()d, and a json blob is parsed with jsonlite when that
# is installed. Any other blob (python/pickle, rust/cbor, ..., or an
# r/serialize blob that unserialize() rejects) raises an nws_error_decode
# condition that carries the value as an nws_blob in `value` (and its codec
# in `codec`): a fetch has consumed it, so it is never silently lost, and
# nwsStore() of that nws_blob stores the same bytes with the same codec.

R_SERIALIZE <- "r/serialize"

# list(value, codec) as the native layer takes them.
.nwsEncode <- function(x) {
  if (is.character(x)) {
    if (length(x) == 1L && is.null(attributes(x)) && !is.na(x))
      return(list(enc2utf8(x), ""))
  } else if (is.raw(x)) {
    if (is.null(attributes(x))) return(list(x, ""))
    if (inherits(x, "nws_blob")) {
      codec <- attr(x, "codec", exact = TRUE)
      attributes(x) <- NULL
      return(list(x, codec))
    }
  }
  list(serialize(x, NULL), R_SERIALIZE)
}

.nwsUndecodable <- function(v, codec, why, call) {
  stop(nwsCondition(
    "DECODE",
    sprintf("cannot decode a value of codec %s (%d bytes): %s; the value is in $value",
            codec, length(v), why),
    call, value = nwsBlob(v, codec), codec = codec))
}

# The R value of what the native layer returned (not a failure).
.nwsDecode <- function(v, call) {
  if (!is.raw(v)) return(v)
  codec <- attr(v, "codec", exact = TRUE)
  if (is.null(codec)) return(v)
  attr(v, "codec") <- NULL
  if (identical(codec, R_SERIALIZE)) {
    return(tryCatch(unserialize(v), error = function(e)
      .nwsUndecodable(v, codec, conditionMessage(e), call)))
  }
  if (identical(codec, "json")) {
    if (!requireNamespace("jsonlite", quietly = TRUE))
      .nwsUndecodable(v, codec, "the json codec needs the jsonlite package", call)
    return(tryCatch(jsonlite::fromJSON(rawToChar(v), simplifyVector = TRUE),
                    error = function(e) .nwsUndecodable(v, codec, conditionMessage(e), call)))
  }
  .nwsUndecodable(v, codec, "R has no decoder for it", call)
}

# Values R does not decode
# 
# Bytes tagged with the codec of the serializer that wrote them. A value R
# cannot decode (for example a Python object, codec "python/pickle")
# raises nws_error_decode with the value as an nws_blob in $value; storing
# an nws_blob stores the same bytes with the same codec.
# 
# @param data a raw vector.
# @param codec the codec name, e.g. \code{"python/pickle"}.
# @return an object of class \code{nws_blob}.

nwsBlob <- function(data, codec) {
  if (!is.raw(data)) stop("data must be a raw vector")
  if (!is.character(codec) || length(codec) != 1L || is.na(codec) || !nzchar(codec))
    stop("codec must be a non-empty character string")
  structure(data, codec = codec, class = "nws_blob")
}

print.nws_blob <- function(x, ...) {
  cat(sprintf("<nws_blob: %s, %d bytes>\n", attr(x, "codec", exact = TRUE), length(x)))
  invisible(x)
}
