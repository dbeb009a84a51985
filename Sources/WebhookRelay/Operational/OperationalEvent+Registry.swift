extension OperationalEvent {
    /// What a registry change is for operators, from the endpoint's document before and after
    /// (`nil`: none): created, deleted, disabled, enabled or updated; `nil` when nothing changed.
    static func registryChange(id: String, before: [String: Any]?, after: [String: Any]?, at: Int64) -> OperationalEvent? {
        switch (before, after) {
        case (nil, nil):
            return nil
        case (nil, _):
            return OperationalEvent(.endpointCreated, endpointID: id, at: at)
        case (_, nil):
            return OperationalEvent(.endpointDeleted, endpointID: id, at: at)
        case (let before?, let after?):
            let was = before["disabled"] as? Bool == true, now = after["disabled"] as? Bool == true
            if now && !was {
                return OperationalEvent(.endpointDisabled, endpointID: id, at: at, data: ["reason": .text(after["disabled_reason"] as? String ?? "")])
            }
            return OperationalEvent(was && !now ? .endpointEnabled : .endpointUpdated, endpointID: id, at: at)
        }
    }

    /// The same from the documents' JSON.
    static func registryChange(id: String, before: [UInt8]?, after: [UInt8]?, at: Int64) -> OperationalEvent? {
        registryChange(id: id, before: before.flatMap(EndpointDocument.fields), after: after.flatMap(EndpointDocument.fields), at: at)
    }
}
