import CorralPlatform

extension ConfigurationType {
    /// A JSON array, each element read as `element`.
    static func array<Element>(of element: ConfigurationType<Root, Element>, _ summary: String) -> Self where Value == [Element] {
        let show = element.show
        return Self(
            summary: summary, environment: .json, members: element.members.map { $0.nested(under: "[]") },
            show: { elements in
                let shown = elements.compactMap(show)
                return shown.count == elements.count ? "[" + shown.joined(separator: ", ") + "]" : nil
            }
        ) { value, context throws(CorralError) in
            guard case .array(let items) = value else { throw context.error("expected \(summary), got \(value.typeName)") }
            var elements: [Element] = []
            for (index, item) in items.enumerated() {
                elements.append(try element.read(item, context.element(index, place: context.place?.element(index))))
            }
            return elements
        }
    }

    /// A JSON object of any names (checked by `name`, which returns what is wrong with one), each
    /// value read as `element`. Names are read in order, so the first bad one is always the same.
    static func map<Element>(
        of element: ConfigurationType<Root, Element>,
        _ summary: String,
        name check: @escaping @Sendable (String) -> String? = { _ in nil }
    ) -> Self where Value == [String: Element] {
        Self(
            summary: summary, environment: .json, members: element.members.map { $0.nested(under: ".*") },
            show: { $0.isEmpty ? "{}" : nil }
        ) { value, context throws(CorralError) in
            guard case .object(let fields) = value else { throw context.error("expected \(summary), got \(value.typeName)") }
            var elements: [String: Element] = [:]
            for name in fields.keys.sorted() {
                let member = context.member(name, place: context.place?.entry(name))
                if let problem = check(name) { throw member.error(problem) }
                elements[name] = try element.read(fields[name]!, member)
            }
            return elements
        }
    }

    /// A JSON object with the keys `declaration` declares.
    static func object(_ declaration: ConfigurationObject<Root, Value>, _ summary: String) -> Self where Value: Sendable {
        Self(
            summary: summary, environment: .json, members: ConfigurationReference.rows(declaration).map { $0.nested(under: ".") },
            show: { _ in nil }
        ) { value, context throws(CorralError) in
            guard case .object(let fields) = value else { throw context.error("expected \(summary), got \(value.typeName)") }
            return try declaration.read(fields, context)
        }
    }
}
