import ArgumentParser
import Foundation
import Hummingbird
import MuseCore
import MuseServe

/// `muse-serve`: a local web page for the pipelines of a folder.
@main
struct MuseServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "muse-serve",
        abstract: "Serve a web page that runs the pipelines of a folder (prompt, seed, uploads, painted masks, A/B, history).",
        discussion: """
        Example:
          muse-serve                                  (http://127.0.0.1:8080, Pipelines/, results in out/serve/)
          muse-serve --port 9000 --pipelines Pipelines --out out/serve

        Every pipeline file directly in the folder gets a form built from its declared
        inputs. Runs go through one queue (one at a time; --queue-size more wait, any
        more are refused with "busy, try again"); stages and weights stay loaded
        between runs of the same pipeline. Results, their JSON reports and uploads are
        kept in the output folder; each PNG carries its run (pipeline, inputs, seed) as
        muse-run writes it, so the page's history, and `muse-run --from`, rerun it.
        The server listens on 127.0.0.1 unless --host says otherwise: it runs whatever
        pipelines the folder holds, so do not expose it to a network you do not trust.
        """)

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port; the one chosen is printed).")
    var port = 8080

    @Option(help: ArgumentHelp("The folder whose pipelines (*.yaml directly in it) the page offers; no other pipeline runs.", valueName: "folder"))
    var pipelines = "Pipelines"

    @Option(help: ArgumentHelp("Where results, reports and uploads are written (created if missing).", valueName: "folder"))
    var out = "out/serve"

    @Option(name: .customLong("queue-size"), help: "Runs that may wait behind the running one; more are refused (HTTP 503).")
    var queueSize = 4

    @Option(name: .customLong("max-upload-bytes"), help: "The largest uploaded PNG, in bytes.")
    var maxUploadBytes = 4 << 20

    @Option(name: .customLong("max-upload-pixels"), help: "The largest uploaded image, in pixels (width x height).")
    var maxUploadPixels = 1024 * 1024

    @Option(name: .customLong("max-output-bytes"), help: "New runs are refused (HTTP 507) once the output folder (results, reports, uploads) holds this many bytes; the server never deletes results.")
    var maxOutputBytes = 2 << 30

    @Option(name: .customLong("allow-host"), help: ArgumentHelp("Also answer requests addressed to this host name (repeatable). localhost, 127.0.0.1, ::1 and --host are always allowed; requests for other names (DNS rebinding) or from other sites' pages are refused.", valueName: "name"))
    var allowHosts: [String] = []

    @Option(name: .customLong("plugins"), help: ArgumentHelp("A plugin folder or .so file to load (repeatable).", valueName: "path"))
    var pluginPaths: [String] = []

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        guard queueSize >= 0 else { throw ValidationError("--queue-size must be 0 or more") }
        guard (1...ServeSettings.largestUpload).contains(maxUploadBytes) else {
            throw ValidationError("--max-upload-bytes must be 1 to \(ServeSettings.largestUpload)")
        }
        guard (1...ImageLimits.maxPixels).contains(maxUploadPixels) else {
            throw ValidationError("--max-upload-pixels must be 1 to \(ImageLimits.maxPixels)")
        }
        guard maxOutputBytes >= 1 else { throw ValidationError("--max-output-bytes must be 1 or more") }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: pipelines, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("--pipelines \(pipelines): no such folder")
        }
    }

    func run() async throws {
        let settings = ServeSettings(pipelinesFolder: URL(fileURLWithPath: pipelines), outputFolder: URL(fileURLWithPath: out),
                                     queueCapacity: queueSize, maxUploadBytes: maxUploadBytes, maxUploadPixels: maxUploadPixels,
                                     pluginPaths: pluginPaths, allowedHosts: [host] + allowHosts, maxOutputBytes: maxOutputBytes)
        let app: ServeApp
        do { app = try ServeApp(settings: settings) } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let names = app.catalog.names()
        let host = self.host
        let application = app.application(host: host, port: port) { port in
            print("muse-serve: http://\(host):\(port)/  (\(names.count) pipelines from \(settings.pipelinesFolder.path); results in \(settings.outputFolder.path))")
            fflush(stdout)
        }
        try await application.runService()
    }
}
