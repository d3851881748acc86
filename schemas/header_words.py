"""Column headers in other languages, as data: field name -> language -> the headers people write for it.

English spellings live with the fields (``Field.synonyms`` in schemas/models.py); these are the
German, French, Spanish, Portuguese, Italian and Dutch ones. services/ingest/mapping.py reads them like
synonyms (same confidence), comparing headers without case, accents, spaces or punctuation, so
"Prénom", "prenom" and "PRENOM" are one spelling and only one of them needs listing.

A field name here means that field in every model that has it; words shared by fields of several
models (a company, a city, a country) are listed once and assigned to each. No word may name two
fields of one model (tests/unit/test_mapping_languages.py checks it).
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "HEADER_WORDS", "NOT_A_FIELD", "words_by_field"]

# Language code -> the name a suggestion's reason shows ("header (German)").
LANGUAGES: dict[str, str] = {
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
}

_Words = dict[str, tuple[str, ...]]

# The organisation a person works for: lead.company, contact.account, account.name.
_COMPANY: _Words = {
    "de": ("Firma", "Unternehmen", "Firmenname", "Unternehmensname", "Organisation", "Arbeitgeber"),
    "fr": ("Entreprise", "Société", "Nom de l'entreprise", "Nom de la société", "Organisation", "Employeur"),
    "es": ("Empresa", "Compañía", "Nombre de la empresa", "Organización", "Empleador"),
    "pt": ("Empresa", "Companhia", "Nome da empresa", "Organização", "Empregador"),
    "it": ("Azienda", "Società", "Ragione sociale", "Nome azienda", "Organizzazione", "Datore di lavoro"),
    "nl": ("Bedrijf", "Bedrijfsnaam", "Onderneming", "Organisatie", "Werkgever"),
}
_CITY: _Words = {
    "de": ("Stadt", "Ort", "Wohnort"),
    "fr": ("Ville", "Localité"),
    "es": ("Ciudad", "Localidad", "Población"),
    "pt": ("Cidade", "Localidade", "Município"),
    "it": ("Città", "Comune", "Località"),
    "nl": ("Stad", "Plaats", "Woonplaats"),
}
_COUNTRY: _Words = {
    "de": ("Land",),
    "fr": ("Pays",),
    "es": ("País",),
    "pt": ("País",),
    "it": ("Paese", "Nazione"),  # "Stato" is the lead status in Italian CRMs, so it is not listed here
    "nl": ("Land",),
}
_EMPLOYEES: _Words = {
    "de": ("Mitarbeiter", "Mitarbeiterzahl", "Anzahl Mitarbeiter", "Beschäftigte", "Anzahl der Mitarbeiter"),
    "fr": ("Employés", "Effectif", "Effectifs", "Nombre d'employés", "Salariés", "Nombre de salariés"),
    "es": ("Empleados", "Número de empleados", "Plantilla"),
    "pt": ("Funcionários", "Número de funcionários", "Empregados", "Colaboradores"),
    "it": ("Dipendenti", "Numero di dipendenti", "Numero dipendenti"),
    "nl": ("Medewerkers", "Werknemers", "Aantal medewerkers", "Personeel", "Aantal werknemers"),
}

HEADER_WORDS: dict[str, _Words] = {
    "first_name": {
        "de": ("Vorname", "Rufname"),
        "fr": ("Prénom",),
        "es": ("Nombre", "Nombre de pila", "Primer nombre"),
        "pt": ("Nome", "Primeiro nome", "Nome próprio"),
        "it": ("Nome", "Nome di battesimo"),
        "nl": ("Voornaam", "Roepnaam"),
    },
    "last_name": {
        "de": ("Nachname", "Familienname", "Zuname"),
        "fr": ("Nom", "Nom de famille"),
        "es": ("Apellido", "Apellidos", "Primer apellido"),
        "pt": ("Sobrenome", "Apelido", "Último nome"),
        "it": ("Cognome",),
        "nl": ("Achternaam", "Familienaam"),
    },
    "email": {
        "de": ("E-Mail", "E-Mail-Adresse", "Emailadresse", "Mailadresse"),
        "fr": ("Courriel", "Adresse e-mail", "Adresse électronique", "Adresse mail", "Mél"),
        "es": ("Correo electrónico", "Correo", "Dirección de correo", "Dirección de correo electrónico"),
        "pt": ("Endereço de e-mail", "Correio eletrónico", "Correio eletrônico"),
        "it": ("Posta elettronica", "Indirizzo email", "Indirizzo e-mail"),
        "nl": ("E-mailadres", "Mailadres"),
    },
    "phone": {
        "de": ("Telefon", "Telefonnummer", "Rufnummer", "Tel.-Nr."),
        "fr": ("Téléphone", "Numéro de téléphone", "Tél", "Téléphone fixe"),
        "es": ("Teléfono", "Número de teléfono", "Teléfono fijo"),
        "pt": ("Telefone", "Número de telefone", "Telefone fixo"),
        "it": ("Telefono", "Numero di telefono", "Telefono fisso"),
        "nl": ("Telefoon", "Telefoonnummer", "Vaste telefoon"),
    },
    "mobile_phone": {
        "de": ("Mobil", "Mobiltelefon", "Handy", "Mobilnummer", "Handynummer"),
        "fr": ("Portable", "Téléphone portable", "Tél portable", "Téléphone mobile"),
        "es": ("Móvil", "Celular", "Teléfono móvil", "Teléfono celular"),
        "pt": ("Celular", "Telemóvel", "Telefone celular", "Telefone móvel"),
        "it": ("Cellulare", "Telefono cellulare", "Numero di cellulare"),
        "nl": ("Mobiel", "Mobiele telefoon", "Mobiel nummer", "GSM", "GSM-nummer"),
    },
    "company": _COMPANY,
    "account": _COMPANY,
    "name": _COMPANY,
    "title": {
        "de": ("Position", "Berufsbezeichnung", "Jobtitel", "Funktion", "Stellenbezeichnung", "Beruf"),
        "fr": ("Poste", "Fonction", "Intitulé du poste", "Titre du poste", "Profession"),
        "es": ("Cargo", "Puesto", "Título del puesto", "Profesión"),
        "pt": ("Cargo", "Função", "Profissão"),
        "it": ("Ruolo", "Posizione", "Qualifica", "Mansione", "Professione"),
        "nl": ("Functie", "Functietitel", "Functieomschrijving", "Beroep"),
    },
    "department": {
        "de": ("Abteilung",),
        "fr": ("Département", "Service"),
        "es": ("Departamento", "Área"),
        "pt": ("Departamento", "Setor de trabalho"),
        "it": ("Reparto", "Dipartimento", "Ufficio"),
        "nl": ("Afdeling",),
    },
    "lead_source": {
        "de": ("Quelle", "Leadquelle", "Herkunft", "Kanal"),
        "fr": ("Origine", "Canal", "Source du lead", "Source du prospect", "Provenance"),
        "es": ("Fuente", "Origen", "Canal", "Fuente del lead", "Procedencia"),
        "pt": ("Fonte", "Origem", "Canal", "Fonte do lead"),
        "it": ("Fonte", "Origine", "Canale", "Provenienza"),
        "nl": ("Bron", "Herkomst", "Kanaal", "Leadbron"),
    },
    "status": {
        "de": ("Leadstatus", "Phase", "Stufe"),
        "fr": ("Statut", "Statut du lead", "Étape", "État"),
        "es": ("Estado", "Estado del lead", "Etapa", "Estatus"),
        "pt": ("Estado", "Situação", "Etapa", "Estágio"),
        "it": ("Stato", "Fase", "Stato del lead"),
        "nl": ("Fase", "Leadstatus"),
    },
    "industry": {
        "de": ("Branche", "Industrie", "Wirtschaftszweig"),
        "fr": ("Secteur", "Secteur d'activité", "Industrie"),
        "es": ("Industria", "Sector", "Sector de actividad", "Rubro"),
        "pt": ("Indústria", "Setor", "Ramo", "Ramo de atividade"),
        "it": ("Settore", "Industria", "Comparto"),
        "nl": ("Sector", "Bedrijfstak", "Industrie"),
    },
    "annual_revenue": {
        "de": ("Umsatz", "Jahresumsatz"),
        "fr": ("Chiffre d'affaires", "Chiffre d'affaires annuel", "CA annuel"),
        "es": ("Ingresos", "Facturación", "Ingresos anuales", "Facturación anual"),
        "pt": ("Receita", "Faturamento", "Receita anual", "Faturação"),
        "it": ("Fatturato", "Fatturato annuo", "Ricavi"),
        "nl": ("Omzet", "Jaaromzet"),
    },
    "number_of_employees": _EMPLOYEES,
    "employees": _EMPLOYEES,
    "website": {
        "de": ("Webseite", "Internetseite", "Internetadresse", "Webadresse"),
        "fr": ("Site web", "Site internet", "Adresse du site"),
        "es": ("Sitio web", "Página web"),
        "pt": ("Site", "Sítio web", "Página web", "Página da internet"),
        "it": ("Sito web", "Sito", "Sito internet"),
        "nl": ("Webadres", "Webpagina", "Internetadres"),
    },
    "city": _CITY,
    "mailing_city": _CITY,
    "billing_city": _CITY,
    "country": _COUNTRY,
    "mailing_country": _COUNTRY,
    "billing_country": _COUNTRY,
    "converted_date": {
        "de": ("Konvertiert am", "Konvertierungsdatum"),
        "fr": ("Date de conversion", "Converti le"),
        "es": ("Fecha de conversión", "Convertido el"),
        "pt": ("Data de conversão", "Convertido em"),
        "it": ("Data di conversione", "Convertito il"),
        "nl": ("Conversiedatum", "Geconverteerd op"),
    },
    "birthdate": {
        "de": ("Geburtsdatum", "Geburtstag"),
        "fr": ("Date de naissance", "Anniversaire"),
        "es": ("Fecha de nacimiento", "Cumpleaños"),
        "pt": ("Data de nascimento", "Aniversário"),
        "it": ("Data di nascita", "Compleanno"),
        "nl": ("Geboortedatum", "Verjaardag"),
    },
    "founded_date": {
        "de": ("Gründungsdatum", "Gegründet", "Gründungsjahr", "Gründung"),
        "fr": ("Date de création", "Fondée", "Fondé en", "Année de création", "Date de fondation"),
        "es": ("Fecha de fundación", "Fundada", "Fundación", "Año de fundación"),
        "pt": ("Data de fundação", "Fundada", "Fundação", "Ano de fundação"),
        "it": ("Data di fondazione", "Fondata", "Fondazione", "Anno di fondazione"),
        "nl": ("Oprichtingsdatum", "Opgericht", "Oprichtingsjaar"),
    },
    "type": {
        "de": ("Typ", "Kontotyp", "Kundentyp", "Art"),
        "fr": ("Type de compte", "Type de client"),
        "es": ("Tipo", "Tipo de cuenta", "Tipo de cliente"),
        "pt": ("Tipo", "Tipo de conta", "Tipo de cliente"),
        "it": ("Tipo", "Tipologia", "Tipo di cliente"),
        "nl": ("Soort", "Klanttype"),
    },
    "do_not_call": {
        "de": ("Nicht anrufen",),
        "fr": ("Ne pas appeler",),
        "es": ("No llamar",),
        "pt": ("Não ligar",),
        "it": ("Non chiamare",),
        "nl": ("Niet bellen",),
    },
    "description": {
        "de": ("Beschreibung", "Notizen", "Notiz", "Bemerkung", "Bemerkungen", "Kommentar", "Anmerkungen"),
        "fr": ("Remarques", "Commentaire", "Commentaires", "Observations"),
        "es": ("Descripción", "Notas", "Comentarios", "Observaciones"),
        "pt": ("Descrição", "Notas", "Observações", "Comentários"),
        "it": ("Descrizione", "Commenti", "Osservazioni", "Annotazioni"),
        "nl": ("Omschrijving", "Beschrijving", "Notities", "Opmerkingen", "Commentaar"),
    },
    "external_id": {
        "de": ("Kundennummer", "Kunden-ID", "Externe ID", "Kundennr"),
        "fr": ("Identifiant", "ID externe", "Numéro client", "Identifiant client"),
        "es": ("Identificador", "ID externo", "Número de cliente", "ID de cliente"),
        "pt": ("Identificador", "ID externo", "Código do cliente", "ID do cliente"),
        "it": ("Identificativo", "ID esterno", "Codice cliente", "ID cliente"),
        "nl": ("Klantnummer", "Extern ID", "Klant-ID"),
    },
}

# Headers that name something no model has a field for: they are never suggested a field, neither by a
# near spelling nor by their values ("Subscription Date" holds dates, but not a birthdate; "Index" holds
# row numbers, not record ids; "Lead Owner" holds people's names, not the lead's).
NOT_A_FIELD: tuple[str, ...] = (
    "index",
    "row",
    "row number",
    "row id",
    "no",
    "nr",
    "lead owner",
    "owner",
    "account owner",
    "contact owner",
    "record owner",
    "assigned to",
    "sales rep",
    "created by",
    "modified by",
    "last modified by",
    "subscription date",
    "signup date",
    "sign up date",
    "registration date",
    "created",
    "created at",
    "created date",
    "date created",
    "created on",
    "last modified",
    "modified",
    "modified date",
    "last modified date",
    "updated",
    "updated at",
    "last activity",
    "last activity date",
    "close date",
    "sex",
    "gender",
    "salutation",
    # German, French, Spanish, Portuguese, Italian, Dutch
    "Anrede",
    "Geschlecht",
    "Besitzer",
    "Erstellt am",
    "Civilité",
    "Sexe",
    "Sexo",
    "Tratamiento",
    "Género",
    "Sesso",
    "Geslacht",
    "Aanhef",
)


def words_by_field(field: str) -> dict[str, tuple[str, ...]]:
    """The non-English headers of ``field``, per language code (empty for a field without any)."""
    return HEADER_WORDS.get(field, {})
