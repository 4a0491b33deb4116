// The DBOS peer of `dse bench chain`: the equivalent of tools/bench/src/workflows/Chain.ts, a
// workflow of N trivial durable steps (`DBOS.runStep`, each checkpointed in PostgreSQL before the
// next runs), served on loopback HTTP so that the bench calls it from outside like the other
// engines. Started by tools/bench (src/peers/Dbos.ts) with the SDK installed by peers/install.sh
// (outside the workspace: loaded by absolute path).
//
//   node dbos-chain.mjs <path to @dbos-inc/dbos-sdk> <system database url> <port>
//
//   POST /run {"id", "steps"}  runs (or, for a known id, joins) the workflow with workflow ID `id`;
//                              replies with its result, once DBOS has recorded it
//   GET  /info                 the SDK version and the PostgreSQL settings in effect, read back
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as path from "node:path"

const [sdkDir, systemDatabaseUrl, portArg] = process.argv.slice(2)
// The SDK is CommonJS; `pg` is its own dependency, next to it.
const require = createRequire(path.join(sdkDir, "package.json"))
const { DBOS } = require(sdkDir)
const pg = require("pg")
const version = JSON.parse(fs.readFileSync(path.join(sdkDir, "package.json"), "utf8")).version

const chain = DBOS.registerWorkflow(
  async (steps) => {
    let sum = 0
    for (let i = 0; i < steps; i++) sum += await DBOS.runStep(async () => i, { name: `step-${i}` })
    return sum
  },
  { name: "benchChain" }
)

DBOS.setConfig({ name: "dse-bench-chain", systemDatabaseUrl, logLevel: "warn" })
await DBOS.launch()

const settings = async () => {
  const client = new pg.Client({ connectionString: systemDatabaseUrl })
  await client.connect()
  try {
    const show = async (name) => (await client.query(`SHOW ${name}`)).rows[0][name]
    const out = { dbos: version }
    for (const name of ["server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method"]) out[name] = await show(name)
    return out
  } finally {
    await client.end()
  }
}

const body = (req) =>
  new Promise((resolve, reject) => {
    let text = ""
    req.setEncoding("utf8")
    req.on("data", (chunk) => (text += chunk))
    req.on("end", () => resolve(text))
    req.on("error", reject)
  })

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === "POST" && req.url === "/run") {
      const { id, steps } = JSON.parse(await body(req))
      const handle = await DBOS.startWorkflow(chain, { workflowID: String(id) })(Number(steps))
      const result = await handle.getResult()
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result))
    } else if (req.method === "GET" && req.url === "/info") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(await settings()))
    } else {
      res.writeHead(404).end()
    }
  } catch (error) {
    res.writeHead(500, { "content-type": "text/plain" }).end(String(error?.stack ?? error))
  }
})

const stop = async () => {
  server.close()
  await DBOS.shutdown().catch(() => {})
  process.exit(0)
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)

server.listen(Number(portArg), "127.0.0.1", () => console.log(`dbos-chain ready 127.0.0.1:${server.address().port}`))
