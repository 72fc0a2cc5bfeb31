/**
 * The stand-in for github-mcp-server (github-mcp-server.Containerfile): a stdio MCP server built
 * with the MCP SDK, invoked as `github-mcp-server stdio [--read-only]`. One tool, `get_me`, which
 * says it is the stand-in and whether GITHUB_PERSONAL_ACCESS_TOKEN reached it (never its value).
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

if (process.argv[2] !== "stdio") {
  console.error("usage: github-mcp-server stdio [--read-only]");
  process.exit(2);
}
const server = new McpServer({ name: "github-mcp-server-standin", version: "1.11.0" });
server.registerTool("get_me", { description: "Who the token belongs to (stand-in: no GitHub API here)" }, async () => ({
  content: [
    {
      type: "text",
      text: JSON.stringify({
        standIn: true,
        readOnly: process.argv.includes("--read-only"),
        tokenSet: !!process.env.GITHUB_PERSONAL_ACCESS_TOKEN,
      }),
    },
  ],
}));
void server.connect(new StdioServerTransport());
