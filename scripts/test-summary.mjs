// Sums the vitest JSON reports that every package's `test` target writes into one directory and
// prints the closing line CI reads: "N passed, N failed". Exits 1 when a test failed, a report is
// missing for a package that has tests, or nothing ran at all. Each failed test is named, with the
// first lines of its message, just above that line: CI keeps only the tail of a long log.
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

const dir = process.argv[2] ?? ".reports"
const root = new URL("..", import.meta.url).pathname
let passed = 0
let failed = 0
let problems = []
const failures = []

const packages = ["libs", "services", "tools"].flatMap((group) =>
  existsSync(join(root, group)) ? readdirSync(join(root, group)).map((name) => `${group}-${name}`) : []
)
for (const pkg of packages) {
  const [group, ...rest] = pkg.split("-")
  const testDir = join(root, group, rest.join("-"), "test")
  const hasTests = existsSync(testDir) && readdirSync(testDir, { recursive: true }).some((f) => String(f).endsWith(".test.ts"))
  const report = join(dir, `${pkg}.json`)
  if (!existsSync(report)) {
    if (hasTests) problems.push(`${pkg}: no test report (its test target did not run to the end)`)
    continue
  }
  const json = JSON.parse(readFileSync(report, "utf8"))
  passed += json.numPassedTests ?? 0
  failed += json.numFailedTests ?? 0
  for (const file of json.testResults ?? []) {
    for (const test of file.assertionResults ?? []) {
      if (test.status !== "failed") continue
      const where = file.name.slice(file.name.indexOf(`/${group}/`) + 1)
      const message = (test.failureMessages ?? []).join("\n").split("\n").slice(0, 4).join("\n    ")
      failures.push(`FAILED ${where} > ${test.fullName ?? test.title} (${Math.round(test.duration ?? 0)} ms)\n    ${message}`)
    }
  }
  if ((json.numFailedTestSuites ?? 0) > 0 && (json.numFailedTests ?? 0) === 0) {
    problems.push(`${pkg}: ${json.numFailedTestSuites} test file(s) failed to run`)
    failed += json.numFailedTestSuites
  }
}
for (const f of failures) console.log(f)
for (const p of problems) console.log(p)
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 || problems.length > 0 || passed === 0 ? 1 : 0)
