// The Restate peer of `dse bench chain`: the equivalent of tools/bench/src/workflows/Chain.ts, a
// handler of N trivial durable steps (`ctx.run`, each journaled by the Restate server before the
// next runs). Started by tools/bench (src/peers/Restate.ts) with the SDK installed by
// peers/install.sh (outside the workspace: imported by absolute path).
//
//   node restate-chain.mjs <path to @restatedev/restate-sdk> <port>
import { pathToFileURL } from "node:url"
import * as path from "node:path"

// The SDK uses Promise.withResolvers (Node >= 22); this repository runs on Node 20.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new this((a, b) => {
      resolve = a
      reject = b
    })
    return { promise, resolve, reject }
  }
}

const [sdkDir, portArg] = process.argv.slice(2)
const restate = await import(pathToFileURL(path.join(sdkDir, "dist", "index.js")).href)

const chain = restate.service({
  name: "BenchChain",
  handlers: {
    run: async (ctx, request) => {
      let sum = 0
      for (let i = 0; i < request.steps; i++) sum += await ctx.run(`step-${i}`, async () => i)
      return sum
    }
  }
})

const port = await restate.serve({ services: [chain], port: Number(portArg) })
console.log(`restate-chain ready 127.0.0.1:${port}`)
