import Foundation
import Yams

/// YAML read from a file the operator wrote (the config file, the endpoints file), guarded against
/// what would hang, exhaust or leak: a size limit, no alias as a mapping key (a "billion laughs"
/// of a few hundred bytes), and errors that name the line, never quote it (it may hold a secret).
public enum YAMLText {
    /// The file's text, if it is a regular file of at most `limit` bytes of UTF-8.
    public static func read(_ path: String, limit: Int, what: String) throws(ConfigurationError) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else { throw ConfigurationError("\(path): cannot read \(what) (\(String(cString: strerror(errno))))") }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw ConfigurationError("\(path): \(what) is not a regular file") }
        guard status.st_size <= limit else {
            throw ConfigurationError("\(path): \(what) is \(status.st_size) bytes, more than the limit of \(limit)")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count <= limit else {
            throw ConfigurationError("\(path): cannot read \(what)")
        }
        guard let text = String(validating: data, as: UTF8.self) else { throw ConfigurationError("\(path): \(what) is not UTF-8") }
        return text
    }

    /// Composes `text` (at most `limit` bytes) into a node, `nil` for an empty document. Errors
    /// start with `source` and give the line, not its text.
    public static func compose(_ text: String, source: String, limit: Int) throws(ConfigurationError) -> Node? {
        guard text.utf8.count <= limit else { throw ConfigurationError("\(source): \(text.utf8.count) bytes, more than the limit of \(limit)") }
        do {
            if let line = try aliasInKey(text) {
                throw ConfigurationError("\(source):\(line): a mapping key refers to a YAML alias (*name), which is not allowed")
            }
            return try Yams.compose(yaml: text)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("\(source)\(problem(error))")
        }
    }

    /// Yams hashes every mapping key while composing, aliases expanded: a key that refers to nested
    /// aliases (a "billion laughs" of a few hundred bytes) would take exponential time. So the text is
    /// first composed with every `*` replaced by a character it does not contain: that removes every
    /// alias and moves nothing, and a plain scalar starting with that character was an alias. Returns
    /// the line of the first alias used in a mapping key. Aliases in values are harmless (nothing here
    /// walks a value deeply) and stay allowed.
    public static func aliasInKey(_ text: String) throws -> Int? {
        guard text.utf8.contains(UInt8(ascii: "*")) else { return nil }
        let used = Set(text.unicodeScalars.filter { (0xE000...0xF8FF).contains($0.value) })
        guard let marker = (UInt32(0xE000)...0xF8FF).lazy.compactMap(Unicode.Scalar.init).first(where: { !used.contains($0) }) else {
            return 1
        }
        var neutral = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { neutral.append(scalar == "*" ? marker : scalar) }
        guard let root = try Yams.compose(yaml: String(neutral)) else { return nil }
        func find(_ node: Node, inKey: Bool) -> Int? {
            switch node {
            case .scalar(let scalar):
                return inKey && scalar.style == .plain && scalar.string.unicodeScalars.first == marker ? node.mark?.line ?? 1 : nil
            case .sequence(let sequence):
                for item in sequence { if let line = find(item, inKey: inKey) { return line } }
                return nil
            case .mapping(let mapping):
                for (key, value) in mapping {
                    if let line = find(key, inKey: true) ?? find(value, inKey: inKey) { return line }
                }
                return nil
            case .alias:
                return node.mark?.line ?? 1
            }
        }
        return find(root, inKey: false)
    }

    /// A YAML error as one line without the file's text (Yams quotes the offending line, which may
    /// hold a secret): `:<line>: not valid YAML: <problem>`.
    public static func problem(_ error: any Error) -> String {
        func located(_ mark: Mark, _ problem: String, _ context: YamlError.Context?) -> String {
            var text = ":\(mark.line): not valid YAML: \(problem) (column \(mark.column)"
            if let context { text += ", \(context.text) from line \(context.mark.line)" }
            return EndpointsFile.shown(text + ")", limit: 300)
        }
        switch error as? YamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return located(mark, problem, context)
        case .duplicatedKeysInMapping(_, let context):
            return ":\(context.mark.line): not valid YAML: a key appears twice in one mapping"
        case .reader(let problem, _, _, _):
            return ": not valid YAML: \(EndpointsFile.shown(problem, limit: 200))"
        default:
            return ": not valid YAML"
        }
    }
}
