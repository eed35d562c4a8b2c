"""Words that point to a domain on a page, in English, German, French, Spanish,
Italian, Dutch and Portuguese, as Tesseract reads them: lower case, accents
folded (see signals.normalised_words).  A term is a word or a phrase of words.

Chosen for what documents of each domain say about themselves (an invoice
says "invoice", "VAT", "total due"; a court filing says "court", "petitioner"),
not for the layout; generic words that every official page has ("date",
"name", "signature", "page") are left out.
"""

from __future__ import annotations

LEXICONS: dict[str, tuple[str, ...]] = {
    "finance": (
        # English
        "invoice", "invoices", "invoice number", "balance", "account", "accounts", "tax", "payment", "payments",
        "amount due", "balance due", "total due", "bank", "statement", "subtotal", "iban", "bic", "swift",
        "credit", "debit", "interest", "transaction", "transactions", "deposit", "withdrawal", "receipt", "vat",
        "remittance", "due date", "salary", "payroll", "loan", "expenses", "income", "revenue", "profit",
        "expense", "expenditure", "expenditures", "dividend", "dividends", "shares", "equity", "assets",
        "liabilities", "portfolio", "budget", "ledger",
        "fiscal", "annual report", "financial", "finance", "balance sheet", "cash flow", "earnings", "donation",
        "donations", "donor", "donors", "payee", "payees", "net", "gross", "price", "prices", "quantity",
        "unit price", "billing", "card number", "credit card", "minimum payment", "purchase", "purchases",
        "esg", "sustainability report", "investment", "investments", "stock", "stocks", "currency", "eur",
        "usd", "reconcile", "reconciliation", "categories", "payable", "receivable", "quote", "offer",
        # German
        "rechnung", "rechnungsnummer", "betrag", "summe", "gesamtbetrag", "mwst", "ust", "umsatzsteuer",
        "konto", "zahlung", "zahlbar", "bankverbindung", "steuer", "netto", "brutto", "einnahmen",
        "ausgaben", "bilanz", "geschaftsbericht", "jahresbericht", "spende", "spenden", "kontoauszug",
        "buchung", "preis", "menge", "angebot",
        # French
        "facture", "montant", "tva", "total ttc", "total ht", "paiement", "compte", "banque", "solde",
        "releve", "impot", "recettes", "depenses", "rapport annuel", "bilan", "dons", "prix", "quantite",
        "echeance", "devis",
        # Spanish, Portuguese
        "factura", "fatura", "importe", "iva", "pago", "pagamento", "cuenta", "conta", "saldo", "banco",
        "impuesto", "ingresos", "gastos", "informe anual", "relatorio anual", "donaciones", "doacoes",
        "precio", "preco", "cantidad", "vencimiento",
        # Italian, Dutch
        "fattura", "importo", "conto", "imposta", "totale", "factuur", "bedrag", "btw",
        "betaling", "rekening", "totaal", "jaarverslag", "prijs",
    ),
    "legal": (
        # English
        "court", "plaintiff", "defendant", "agreement", "hereby", "statute", "attorney", "witness", "whereas",
        "jurisdiction", "contract", "party", "parties", "clause", "judge", "case no", "case number", "docket",
        "affidavit", "counsel", "hereinafter", "notary", "subpoena", "verdict", "law", "petitioner",
        "respondent", "petition", "summons", "order", "ordered", "adjudged", "decree", "lawyer", "legal",
        "release", "retainer", "waiver", "indemnify", "liability", "governing law", "terms and conditions",
        "in witness whereof", "sworn", "oath", "testify", "hearing", "appeal", "circuit", "county", "clerk",
        "magistrate", "expungement", "conviction", "criminal", "civil action", "complaint", "motion",
        "pursuant", "thereof", "herein", "lease", "tenant", "landlord", "deed", "transfer", "title",
        "registry", "transferor", "transferee", "covenant", "executed", "legal aid", "name change",
        "custody", "divorce", "guardian", "signed sealed", "power of attorney",
        # German
        "gericht", "klager", "beklagte", "vertrag", "vereinbarung", "rechtsanwalt", "urteil", "gesetz",
        "vollmacht", "notar", "beschluss",
        # French
        "tribunal", "contrat", "avocat", "jugement", "loi", "demandeur", "defendeur", "procuration",
        "accord", "article",
        # Spanish, Portuguese, Italian, Dutch
        "corte", "juzgado", "demandante", "demandado", "contrato", "abogado", "acuerdo", "ley", "tribunale",
        "contratto", "avvocato", "rechtbank", "overeenkomst", "advocaat", "peticionario",
        "honorarios",
    ),
    "medical": (
        # English
        "patient", "patients", "diagnosis", "dose", "dosage", "clinical", "hospital", "physician",
        "prescription", "radiology", "discharge", "symptoms", "treatment", "medical", "medical record",
        "blood", "allergies", "mrn", "health", "healthcare", "health information", "nurse", "nursing",
        "clinic", "surgery", "therapy", "disease", "guideline", "guidelines", "recommendation", "medication",
        "medications", "drug", "drugs", "mg", "ml", "ct", "mri", "scan", "ultrasound", "pet", "dicom",
        "study", "series", "slice", "contrast", "lesion", "tumor", "tumour", "cancer", "cardiac", "infection",
        "vaccine", "care", "diabetes", "pain", "pregnancy", "hipaa", "protected health", "laboratory",
        "specimen", "pathology", "histology", "biopsy", "mdi", "ctdi", "dlp",
        # German, French, Spanish, Portuguese, Italian, Dutch
        "patientin", "krankenhaus", "arzt", "diagnose", "behandlung", "befund", "klinik", "patiente",
        "hopital", "medecin", "ordonnance", "traitement", "paciente", "medico", "diagnostico",
        "tratamiento", "receta", "ospedale", "ziekenhuis", "behandeling",
    ),
    "personal": (
        "passport", "date of birth", "driver's licence", "driver's license", "driving licence", "nationality",
        "identity card", "place of birth", "surname", "given names", "social security", "reisepass",
        "personalausweis", "geburtsdatum", "passeport", "date de naissance", "pasaporte",
        "fecha de nacimiento", "passaporto", "paspoort",
    ),
    "surveillance": (
        "cctv", "camera", "cam", "channel", "rec", "dvr", "nvr", "motion detected", "plate", "licence plate",
        "license plate",
    ),
}  # fmt: skip
