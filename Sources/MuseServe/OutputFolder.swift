import Foundation

/// The output folder's size limit (`--max-output-bytes`): results, reports and
/// uploads are never deleted by the server, so once the folder holds the limit,
/// new runs are refused (507) until the user clears old results or raises it.
public enum OutputFolder {
    /// Bytes held by the plain files directly in the output folder and in its
    /// uploads folder (what the server writes; nothing else is walked).
    public static func usage(_ settings: ServeSettings) -> Int {
        [settings.outputFolder, settings.uploadsFolder].reduce(0) { total, folder in
            let files = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey])) ?? []
            return total + files.reduce(0) { sum, url in
                let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey])
                return sum + (values?.isRegularFile == true ? values?.fileSize ?? 0 : 0)
            }
        }
    }

    /// Throws 507 when the folder already holds `maxOutputBytes` or more.
    public static func checkRoom(_ settings: ServeSettings) throws {
        let used = usage(settings)
        guard used < settings.maxOutputBytes else {
            throw ServeError(507, "the output folder \(settings.outputFolder.path) holds \(megabytes(used)), at its limit of "
                             + "\(megabytes(settings.maxOutputBytes)) (--max-output-bytes): delete old results there or restart with a larger limit")
        }
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
}
