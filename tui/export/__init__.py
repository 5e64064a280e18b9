"""Exports: one module per format (rows, scores, coco, crops, model_file) below a small
dispatcher (`dispatch.run_export`); what they share is in `base`, atomic writing in
`atomic`. The formats never import the dispatcher; nothing here imports `tui.app`."""
