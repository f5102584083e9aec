// Editing a page's script in Monaco, with completions, hovers and diagnostics from python-lsp-server.
import * as monaco from "monaco-editor";
import EditorWorker from "monaco-editor/editor/editor.worker?worker";
import { useEffect, useRef, useState } from "react";
import { type CompletionItem, LanguageClient, ROOT } from "./lsp";

(self as unknown as { MonacoEnvironment: monaco.Environment }).MonacoEnvironment = {
  getWorker: () => new EditorWorker(),
};

const clients = new Map<string, LanguageClient>();

const KINDS: Record<number, monaco.languages.CompletionItemKind> = {
  2: monaco.languages.CompletionItemKind.Method,
  3: monaco.languages.CompletionItemKind.Function,
  5: monaco.languages.CompletionItemKind.Field,
  6: monaco.languages.CompletionItemKind.Variable,
  7: monaco.languages.CompletionItemKind.Class,
  9: monaco.languages.CompletionItemKind.Module,
  10: monaco.languages.CompletionItemKind.Property,
  14: monaco.languages.CompletionItemKind.Keyword,
};

function documentation(item: CompletionItem): string | monaco.IMarkdownString | undefined {
  if (!item.documentation) return undefined;
  return typeof item.documentation === "string" ? item.documentation : { value: item.documentation.value };
}

// One provider for every editor: it asks the language client of the model's page.
monaco.languages.registerCompletionItemProvider("python", {
  triggerCharacters: ["."],
  provideCompletionItems: async (model, position) => {
    const client = clients.get(model.uri.toString());
    if (!client) return { suggestions: [] };
    const word = model.getWordUntilPosition(position);
    const range = new monaco.Range(position.lineNumber, word.startColumn, position.lineNumber, word.endColumn);
    const items = await client.completion(model.uri.toString(), { line: position.lineNumber - 1, character: position.column - 1 });
    return {
      suggestions: items.map((item) => ({
        label: item.label,
        kind: KINDS[item.kind ?? 0] ?? monaco.languages.CompletionItemKind.Text,
        insertText: item.insertText ?? item.label.split("(")[0],
        sortText: item.sortText,
        filterText: item.filterText,
        detail: item.detail,
        documentation: documentation(item),
        range,
      })),
    };
  },
});

monaco.languages.registerHoverProvider("python", {
  provideHover: async (model, position) => {
    const client = clients.get(model.uri.toString());
    const text = client ? await client.hover(model.uri.toString(), { line: position.lineNumber - 1, character: position.column - 1 }) : null;
    return text ? { contents: [{ value: text }] } : null;
  },
});

export default function ScriptEditor(props: {
  app: string;
  page: string;
  script: string;
  source: string;
  onSave: (source: string) => Promise<string | null>;
  /** No saving (the Studio says why). */
  readOnly?: boolean;
}): React.JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<monaco.editor.IStandaloneCodeEditor | null>(null);
  const [status, setStatus] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const save = useRef<() => Promise<void>>(async () => undefined);

  useEffect(() => {
    if (!host.current) return;
    const uri = monaco.Uri.parse(`${ROOT}scripts/${props.script}.py`);
    monaco.editor.getModel(uri)?.dispose();
    const model = monaco.editor.createModel(props.source, "python", uri);
    const instance = monaco.editor.create(host.current, {
      model,
      automaticLayout: true,
      minimap: { enabled: false },
      fontSize: 13,
      tabSize: 4,
      insertSpaces: true,
      scrollBeyondLastLine: false,
      quickSuggestions: { other: true, strings: false, comments: false },
    });
    editor.current = instance;
    const client = new LanguageClient(props.app, props.page);
    clients.set(uri.toString(), client);
    client.onDiagnostics = (target, diagnostics) => {
      if (target !== uri.toString()) return;
      monaco.editor.setModelMarkers(
        model,
        "pylsp",
        diagnostics.map((item) => ({
          startLineNumber: item.range.start.line + 1,
          startColumn: item.range.start.character + 1,
          endLineNumber: item.range.end.line + 1,
          endColumn: item.range.end.character + 1,
          message: item.message,
          severity: item.severity === 1 ? monaco.MarkerSeverity.Error : monaco.MarkerSeverity.Warning,
          source: item.source,
        })),
      );
    };
    client.open(uri.toString(), props.source).catch(() => setStatus("completions unavailable"));
    const listener = model.onDidChangeContent(() => {
      setDirty(true);
      void client.change(uri.toString(), model.getValue());
    });
    instance.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyS, () => void save.current());
    return () => {
      listener.dispose();
      clients.delete(uri.toString());
      client.close();
      instance.dispose();
      model.dispose();
    };
  }, [props.app, props.page, props.script, props.source]);

  save.current = async () => {
    if (!editor.current) return;
    setStatus("saving…");
    const failed = await props.onSave(editor.current.getValue());
    setProblem(failed);
    setStatus(failed ? "" : "saved");
    setDirty(failed !== null);
  };

  return (
    <div className="script-editor">
      <header>
        <strong>scripts/{props.script}.py</strong>
        <span className="status" role="status">
          {dirty ? "modified" : status}
        </span>
        {problem ? (
          <span className="field-error" role="alert">
            not saved: {problem}
          </span>
        ) : null}
        {props.readOnly ? null : (
          <button type="button" className="button button-blue" onClick={() => void save.current()}>
            Save script
          </button>
        )}
      </header>
      <div className="monaco-host" ref={host} data-testid="monaco" />
    </div>
  );
}
