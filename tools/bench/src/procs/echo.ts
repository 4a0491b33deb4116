/**
 * The loopback echo server of the floor measurement (Floor.ts): echoes every byte back, Nagle off.
 * Prints `echo ready 127.0.0.1:PORT`.
 */
import * as net from "node:net"

const server = net.createServer((socket) => {
  socket.setNoDelay(true)
  socket.on("data", (data) => socket.write(data))
  socket.on("error", () => {})
})
server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  console.log(`echo ready 127.0.0.1:${typeof address === "object" && address ? address.port : 0}`)
})
