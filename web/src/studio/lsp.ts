// A small Language Server Protocol client over the API's websocket (WS /api/lsp/<app>/<page>), which
// relays to python-lsp-server rooted at the page folder. It covers what the script editor uses:
// completion, hover and diagnostics, with whole-document sync. Files are named under the virtual root
// file:///page/ (the API maps it to the page's real folder).

export const ROOT = "file:///page/";

export interface Position {
  line: number;
  character: number;
}

export interface CompletionItem {
  label: string;
  kind?: number;
  detail?: string;
  documentation?: string | { kind: string; value: string };
  insertText?: string;
  sortText?: string;
  filterText?: string;
}

export interface Diagnostic {
  range: { start: Position; end: Position };
  severity?: number;
  message: string;
  source?: string;
}

type Pending = { resolve: (value: unknown) => void; reject: (reason: Error) => void };

export class LanguageClient {
  private socket: WebSocket;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private ready: Promise<void>;
  private versions = new Map<string, number>();
  onDiagnostics: (uri: string, diagnostics: Diagnostic[]) => void = () => undefined;

  constructor(app: string, page: string) {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    this.socket = new WebSocket(`${scheme}://${window.location.host}/api/lsp/${app}/${page}`);
    this.socket.onmessage = (event: MessageEvent<string>) => this.receive(JSON.parse(event.data));
    this.socket.onclose = () => {
      for (const pending of this.pending.values()) pending.reject(new Error("the language server closed"));
      this.pending.clear();
    };
    this.ready = new Promise<void>((resolve, reject) => {
      this.socket.onopen = () => {
        this.request("initialize", {
          processId: null,
          rootUri: ROOT,
          workspaceFolders: [{ uri: ROOT, name: "page" }],
          capabilities: {
            textDocument: {
              completion: { completionItem: { snippetSupport: false, documentationFormat: ["markdown", "plaintext"] } },
              hover: { contentFormat: ["markdown", "plaintext"] },
              publishDiagnostics: {},
              synchronization: { didSave: true },
            },
          },
        })
          .then(() => {
            this.notify("initialized", {});
            resolve();
          })
          .catch(reject);
      };
      this.socket.onerror = () => reject(new Error("cannot reach the language server"));
    });
  }

  private receive(message: { id?: number; method?: string; params?: unknown; result?: unknown; error?: { message: string } }): void {
    if (message.id !== undefined && message.method === undefined) {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) pending?.reject(new Error(message.error.message));
      else pending?.resolve(message.result);
      return;
    }
    if (message.method === "textDocument/publishDiagnostics") {
      const params = message.params as { uri: string; diagnostics: Diagnostic[] };
      this.onDiagnostics(params.uri, params.diagnostics);
    } else if (message.id !== undefined && message.method) {
      // A request from the server (e.g. workspace/configuration): answer so it does not wait.
      this.socket.send(JSON.stringify({ jsonrpc: "2.0", id: message.id, result: null }));
    }
  }

  private request(method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  private notify(method: string, params: unknown): void {
    this.socket.send(JSON.stringify({ jsonrpc: "2.0", method, params }));
  }

  async open(uri: string, text: string): Promise<void> {
    await this.ready;
    this.versions.set(uri, 1);
    this.notify("textDocument/didOpen", { textDocument: { uri, languageId: "python", version: 1, text } });
  }

  async change(uri: string, text: string): Promise<void> {
    await this.ready;
    const version = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, version);
    this.notify("textDocument/didChange", { textDocument: { uri, version }, contentChanges: [{ text }] });
  }

  async completion(uri: string, position: Position): Promise<CompletionItem[]> {
    await this.ready;
    const result = (await this.request("textDocument/completion", { textDocument: { uri }, position })) as
      | CompletionItem[]
      | { items: CompletionItem[] }
      | null;
    if (!result) return [];
    return Array.isArray(result) ? result : result.items;
  }

  async hover(uri: string, position: Position): Promise<string | null> {
    await this.ready;
    const result = (await this.request("textDocument/hover", { textDocument: { uri }, position })) as {
      contents: string | { value: string } | (string | { value: string })[];
    } | null;
    if (!result) return null;
    const parts = Array.isArray(result.contents) ? result.contents : [result.contents];
    return parts.map((part) => (typeof part === "string" ? part : part.value)).join("\n\n") || null;
  }

  close(): void {
    this.socket.close();
  }
}
