/** `hangar mcp`: the same tools over stdio, through the SDK to a daemon. */
import { test } from 'node:test'
import { connectStdio } from '../../support/mcp.ts'
import { coreToolsSuite } from './core.suite.ts'

test('MCP over stdio (hangar mcp)', async (t) => {
  await coreToolsSuite(t, connectStdio)
})
