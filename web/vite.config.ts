import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// `npm run dev` proxies the API of a running `appyard dev` (port 8000); `npm run build` writes dist/,
// which the API serves at /.
export default defineConfig({
  plugins: [react()],
  server: { proxy: { "/api": { target: "http://127.0.0.1:8000", ws: true } } },
  build: { target: "es2022", sourcemap: false, chunkSizeWarningLimit: 4000 },
  test: { environment: "jsdom", include: ["src/**/*.test.ts", "src/**/*.test.tsx"] },
});
