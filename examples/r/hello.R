# hello: store a count, then store and fetch it back `count` times.
#
#   Rscript hello.R [host [port]]
#
# host and port default to $NWS_HOST / $NWS_PORT, else localhost:8765. The
# R version of the original package's hello example.
library(nws)
args <- commandArgs(trailingOnly = TRUE)
host <- if (length(args) >= 1) args[[1]] else Sys.getenv("NWS_HOST", "localhost")
port <- as.numeric(if (length(args) >= 2) args[[2]] else Sys.getenv("NWS_PORT", "8765"))
wsname <- "hello"

ws <- netWorkSpace(wsname, host, port)

count <- 10
cat("hello: iterations:", count, "\n")
nwsStore(ws, "hello example", count)

for (i in 1:count) {
  nwsStore(ws, "hello", i)
  j <- nwsFetch(ws, "hello")
  stopifnot(identical(i, j))
}

stopifnot(identical(nwsFetch(ws, "hello example"), count))
cat("Success\n")
