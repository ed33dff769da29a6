# ping: the ping-pong server. Opens (and owns) workspace 'ping-pong', sets
# the game counter, then answers every ping: a ping names the variable to
# reply on, and the reply is the string 'pong'.
#
#   Rscript ping.R [host [port [games]]]
#
# Runs until interrupted (Ctrl-C), or until `games` games have said
# goodbye (a ping of 'bye'). Start it first, then run pong.R (any number of
# times, from any machine that reaches the server).
library(nws)
args <- commandArgs(trailingOnly = TRUE)
host <- if (length(args) >= 1) args[[1]] else Sys.getenv("NWS_HOST", "localhost")
port <- as.numeric(if (length(args) >= 2) args[[2]] else Sys.getenv("NWS_PORT", "8765"))
games <- if (length(args) >= 3) as.integer(args[[3]]) else Inf
wsname <- "ping-pong"

ws <- netWorkSpace(wsname, host, port)
nwsStore(ws, "game", 0)

cat("Ping-pong server", wsname, "starting\n")
flush(stdout())
finished <- 0
while (finished < games) {
  pong <- nwsFetch(ws, "ping")
  if (identical(pong, "bye")) {
    finished <- finished + 1
    next
  }
  nwsStore(ws, pong, "pong")
}
cat("Ping-pong server: played", finished, "games\n")
