"""Evaluation metrics, one module per kind of task; none imports torch.

translation     BLEU, chrF, TER (sacreBLEU), bootstrap tests
bleu_explain    how a BLEU score comes about (above translation, whose options it uses)
classification  accuracy, confusion matrix, per-class precision/recall/F1
scales          how a score is shown: shares in percent, two decimals in text
"""
