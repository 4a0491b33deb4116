export * from "./DseMiddleware"
