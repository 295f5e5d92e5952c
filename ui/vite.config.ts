// The dashboard is served by `marquee serve` at /ui/ (src/control/ui_routes.cc): assets under
// /ui/assets/, named by content hash, and nothing loaded from anywhere else.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/ui/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    target: "es2020",
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
});
