from domain.ledger.application import ExportLedger


def test_request_is_stored(ledger: ExportLedger) -> None:
    state = ledger.request_export(user_id="u1", format="json", config={}, conversation_count=1)
    assert ledger.get(state.export_id).status == "queued"
    assert [e.position for e in ledger.history(state.export_id)] == [state.position]
