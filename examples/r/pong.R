# pong: plays one ping-pong game against ping.R. Takes a game number,
# then sends `loops` pings, each naming its own reply variable, and prints
# each reply.
#
#   Rscript pong.R [host [port [loops]]]
#
# The workspace must exist already (create = FALSE): start ping.R first.
library(nws)
args <- commandArgs(trailingOnly = TRUE)
host <- if (length(args) >= 1) args[[1]] else Sys.getenv("NWS_HOST", "localhost")
port <- as.numeric(if (length(args) >= 2) args[[2]] else Sys.getenv("NWS_PORT", "8765"))
loops <- if (length(args) >= 3) as.integer(args[[3]]) else 10
wsname <- "ping-pong"

ws <- netWorkSpace(wsname, host, port, useUse = TRUE, create = FALSE)
game <- nwsFetch(ws, "game")
nwsStore(ws, "game", game + 1)
pong <- paste("pong_", game, sep = "")

cat("Starting a ping-pong game", game, "\n")
for (i in 1:loops) {
  nwsStore(ws, "ping", pong)
  reply <- nwsFetch(ws, pong)
  cat(reply, "\n")
}

nwsDeleteVar(ws, pong)
nwsStore(ws, "ping", "bye")
