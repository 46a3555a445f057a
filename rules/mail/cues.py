"""Cues: what a person's words say, as people write them, in French (Québec and France) and English
(Canada, UK, US), formal or not, without accents, with common typos.

Each cue is one readable pattern over folded text (`words.fold`: lower case, no accents, plain
apostrophes). They are written from how people ask, not from any one message: a cue is a feature
the reader weighs with the others and with the context, never a decision by itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


def _cue(*alternatives: str) -> re.Pattern[str]:
    """One pattern from alternatives; each is a regex fragment matched on word boundaries."""
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(alternatives) + r")(?![a-z0-9])")


_DAY = (
    r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?s?|"
    r"lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche"
)
_APPT = (
    r"appointments?|appt|sessions?|massages?|calls?|consultations?|consult|meetings?|visit|"
    r"rendez[- ]?vous|rdv|seances?|massages?|appels?|rencontres?|point|cours|consultation"
)

CUES: Mapping[str, re.Pattern[str]] = {
    # asking when there is room: "any spots open Thursday?", "t'as-tu de la place", "plages
    # horaires", "what do you have after the 10th?", "fit me in", "week commencing 7th"
    "ask_availability": _cue(
        r"availab\w*|availib\w*|avail|availabilty|disponib\w*|dispos?|dispo\w*",
        r"any (?:openings?|spots?|slots?|room|space|time|availability|appointments?)",
        r"(?:openings?|spots?|slots?) (?:open|left|available|free)",
        r"(?:have|got|get) (?:any(?:thing)?|some|a) (?:time|room|space|spots?|slots?|openings?)",
        r"(?:have|got) anything",
        r"room for (?:me|us|him|her|a new|one more|another)",
        r"(?:fit|squeeze|get) (?:me|us|him|her|them) in",
        r"what do you have|what(?:'s| is) your (?:availability|schedule)",
        r"when (?:could|can|would|might|should) (?:i|we|he|she|they) (?:come|book|see|meet|drop)",
        r"when (?:are|would) you (?:free|available|around)",
        r"when is your next|next (?:available|opening)",
        r"(?:are|r) (?:you|u) (?:free|available|around|open)",
        r"(?:de|des) la place|une place|des places|(?:un|des) spots?|plages? (?:horaires?|libres?)",
        r"(?:un|des|vos|tes|quelques) creneaux?|(?:un|des|vos|tes) moments? (?:libres?|pour)",
        r"(?:t|tu) as(?:-| )tu|as-tu|avez-vous|auriez-vous|aurais-tu|vous reste-t-il|"
        r"te reste(?:rait)?(?:-t-il)?|il (?:vous|te) reste",
        r"(?:es|etes|serais|seriez)(?:-| )(?:tu|vous) (?:libre|disponible|dispo)",
        r"quand (?:est-ce que |est ce que )?(?:je|on|nous|il|elle) (?:peux|peut|pourrai\w*|"
        r"pourrions|pouvons|puis)",
        r"quand pourri\w*|a partir du|apres le|after the \d+\w*|w/?c|week (?:commencing|of)",
        r"semaine du|la semaine prochaine|next week|this week|cette semaine",
        r"waitlist|wait list|liste d'attente|openings?|ouvertures?",
        r"(?:serait|est-ce|est ce|est-il|serait-il|c'est) (?:que c'est )?possible|possible de|"
        r"is (?:it|that|next week|\w+day) (?:possible|doable)|doable|(?:would|could) work",
    ),
    # wanting an appointment: "I'd like to book", "je voudrais un rendez-vous", "can I come
    # Tuesday at 3?", "could we set up", "prendre rdv"
    "want_booking": _cue(
        r"book\w*|reserv\w*|schedul\w*|rebook",
        r"(?:make|take|set up|setup|arrange|get|have|line up) (?:an?|my|the|our|another|a first)? ?"
        r"(?:appointment|appt|session|consult\w*|call|meeting|massage|rendez-vous|time)",
        r"(?:first|initial|new|next|another|one more|intro(?:ductory)?) (?:appointment|session|"
        r"consult\w*|call|meeting|massage|visit)",
        r"(?:can|could|may|shall) (?:i|we|he|she|you) (?:come|book|see (?:you|me|us)|drop by|"
        r"stop by|get|do|have|set|arrange|schedule|meet|talk|chat|speak|start|fit|find)",
        r"when (?:could|can|shall) (?:i|we) (?:talk|meet|chat|speak|start)|set up|line up|"
        r"sort out a time|find a time|a time to|have a chat|quick (?:call|chat)",
        r"come (?:in|by|see you|back)|pop in|drop by|stop by",
        r"(?:like|love|want|wanting|hoping|looking) (?:to )?(?:start|begin|come|see|book|get|"
        r"talk|work)",
        r"prendre (?:un |le )?(?:rendez-vous|rendez vous|rdv)|(?:un|le|mon|mes|prochain) "
        r"(?:rendez-vous|rdv)",
        r"(?:voudrais|voudrai|aimerais|aimerai|souhaite\w*|veux|voulais|cherche|sollicite) "
        r"(?:un|une|prendre|reserver|venir|revenir|reprendre|commencer|passer|faire|avoir)",
        r"(?:venir|passer) (?:vous|te) voir|vous rencontrer|(?:me|nous) recevoir",
        r"premier (?:rendez-vous|rdv)|premiere seance|nouvelle? client\w*|new client",
        r"reprendre|revenir|recommencer|come back|get back",
        r"(?:prenez|prends|prenez-vous|acceptez|take|taking|accept\w*|see|seeing) (?:des |de |new |"
        r"any )?(?:nouveaux |nouvelles |new )?(?:rendez-vous|clients?|clientes?|appointments|"
        r"bookings|patients)",
        r"caler|fixer (?:un|une)|prevoir (?:un|une|le|la)|planifier|organiser (?:un|une)",
        r"(?:on|nous) (?:pourrait|pourrions|peut|pourrait-tu|pourrait-on)",
        r"(?:pourriez|pourrais|pouvez|peux)(?:-| )(?:vous|tu) (?:me|nous) (?:proposer|trouver|"
        r"donner|indiquer)",
        r"(?:give|send|propose|suggest|offer) (?:me|us) (?:some|a few|two|three|several)? ?"
        r"(?:\w+ )?(?:times|options|possibilities|slots|dates)",
        r"(?:j'aurais|j'ai|on aurait|nous aurions|aurais|aurions) besoin d'(?:un|une)|"
        r"(?:je|on|nous) (?:pourrais|pourrait|pourrions|peux|peut) (?:venir|passer|avoir|prendre)",
        r"let (?:me|us) know (?:what|when)",
    ),
    # ending an appointment: "I have to cancel Thursday", "je dois annuler", "can't make it"
    "cancel": _cue(
        r"cancel\w*|annul\w*|cancel(?:l)?ation",
        r"(?:can't|cannot|can not|won't|will not|wont|cant|not going to|unable to|not able to) "
        r"(?:make it|come|attend|be there|make (?:it|" + _DAY + r"))",
        r"(?:ne|n') ?(?:pourrai|pourrais|peux|pourra|pourrons) (?:pas|plus) (?:venir|etre|y aller|"
        r"me presenter|m'y presenter)",
        r"pourrai pas (?:venir|etre)|peux pas venir",
        r"take (?:me|us) off|don't hold|do not hold|no longer need|won't need|will not need",
        r"stop (?:therapy|sessions|coming)|arreter (?:les|mes) seances",
    ),
    # moving an appointment: "can we push it back a week?", "on peut remettre ça?", "décaler"
    "reschedule": _cue(
        r"reschedul\w*|re-schedul\w*|rebook",
        r"(?:move|push|shift|switch|change|bump|swap|postpone|bring forward|bring)(?: it| (?:my|"
        r"our|the|this|that|next|monday's|tuesday's|wednesday's|thursday's|friday's|"
        r"saturday's|sunday's|tomorrow's) \w+)?(?: back| forward| later| earlier| to| from)?",
        r"instead of|rather than|another (?:day|time)|a different (?:day|time)|other (?:day|time)",
        r"(?:start|come|begin) (?:\d+ minutes |an hour |half an hour )?(?:later|earlier)",
        r"decal\w*|deplac\w*|report\w*|remettre|avancer|repousser|changer|changement",
        r"au lieu (?:du|de)|a la place|plutot qu'|un autre (?:jour|moment|creneau)",
        r"plus tard dans la semaine|later (?:in|this) (?:the )?week",
    ),
    # the price mentioned at all: "c'est combien ?", "what are your rates?"
    "price": _cue(
        r"prices?|pricing|pricey|prix|tarifs?|rates?|fees?|costs?|cout\w*|coute|frais|combien|"
        r"how much",
    ),
    # the price as an obstacle: "student rate", "better price", "any flexibility on the price",
    # "prix réduit", "c'est trop cher", "can't afford", "would you do $90?"
    "price_objection": _cue(
        r"discount\w*|rabais|reduction|reduit\w*|reduced|remise|ristourne|geste",
        r"(?:student|etudiante?s?|senior|seniors|retraite\w*|healthcare|associati\w*|solidaire|"
        r"regular[- ]client|first visit|fidelite|loyalty|couples?|intern) (?:rate|price|prix|tarif|"
        r"discount|fee)",
        r"(?:prix|tarif|rate|price|fee|tarifs) (?:etudiants?|etudiant|reduit|preferentiel|special|"
        r"degressif|solidaire|associatif|ajuste|pour (?:les )?(?:etudiants?|amis|nouveaux))",
        r"low income|unemployed|sliding scale|echelle mobile|pay what i can",
        r"budget\w*|afford\w*|(?:pas|plus|peu|faibles|tres limites|nos) (?:les )?moyens|"
        r"(?:trop|un peu|assez|bien|c) cher\w*|expensive|too much|a lot for me|a bit much|"
        r"c'est beaucoup|fait beaucoup|pas donne|steep|costly|overpriced|seems high|au-dessus|"
        r"above (?:my|our|what)|more than (?:we|i) budgeted|(?:is|isn't) (?:hard on|not realistic|"
        r"realistic)",
        r"negoti\w*|negoci\w*|flexib\w* (?:on|sur|with|about) (?:the |le |your |vos |vot )?"
        r"(?:price|prix|tarifs?|rates?|fees?|cost)|wiggle room|match (?:that|it|their)|"
        r"(?:lower|better|special|cheaper|reduced|petit|friends?) (?:price|rate|fee|prix|tarif)",
        r"moins cher\w*|baisser|faire mieux|do better|(?:do|accept|take|accepteriez|faire|match) "
        r"(?:it for |ca pour |pour )?(?:[$€£] ?\d+|\d+ ?(?:\$|€|£|euros?|dollars?|bucks|piasses))",
        r"aligner|s'arranger sur le prix|(?:lower|lowering|reduce|reducing|drop|dropping) (?:the |"
        r"your |my |a )?(?:price|rate|fee|cost)s?|baisser (?:le|vos|ton|votre) (?:prix|tarif)",
        r"package deal|forfait|flat rate|exception",
    ),
    # asking whether the freelancer offers something: "do you do evening sessions?", "offrez-vous
    # les séances en français ?" (a question, or the first half of a booking request)
    "service_question": _cue(
        r"do you (?:also )?(?:offer|do|take|accept|provide|sell|see|work with|treat|direct bill|"
        r"translate|speak|have a|charge)",
        r"(?:est-ce que|est ce que) (?:vous|tu) (?:offrez|offres|faites|fais|prenez|prends|"
        r"acceptez|acceptes|traduisez|recevez|parlez|proposez|fournissez)",
        r"(?:offrez|faites|prenez|acceptez|traduisez|recevez|parlez|proposez|fournissez)-vous",
        r"are you (?:able|allowed|registered|a member|licensed|covered)|(?:etes|es)-(?:vous|tu) "
        r"(?:inscrite?|membre|agree|reconnue?)",
    ),
    # a pick among offered times: "2", "le 2 svp", "the first one works", "option 3 please"
    "pick": _cue(
        r"option (?:n[o°]?\s?)?\d|number \d|no\.? ?\d|#\s?\d|n°\s?\d|creneau (?:n[o°]?\s?)?\d",
        r"(?:le|la|the|ok pour le|va pour le|yes to) (?:\d|premier|premiere|deuxieme|second|"
        r"seconde|troisieme|dernier|derniere|first|second|third|last|earliest|latest|1st|2nd|3rd)",
        r"(?:first|second|third|last|earliest|latest|1st|2nd|3rd) (?:one|option|slot|time)",
        r"(?:i'll|i will|we'll|we will|i'd like to|let's go with|let's do|i) (?:take|choose|go "
        r"with|pick)",
        r"je (?:prends|prendrai|prendrais|retiens|choisis|vais prendre)|on prend|nous retenons|"
        r"(?:celui|celle) (?:de|du)",
        r"works (?:for|fine|great|well)|suits (?:me|us)|is perfect|is fine|sounds good|"
        r"is great|would be (?:perfect|ideal|great)",
        r"me (?:va|convient|conviendrait|irait)|m'(?:arrange|adonne|irait|va)|nous (?:va|convient)|"
        r"(?:c'est )?parfait pour|ca me va",
        r"see you then|a (?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)|book me in",
    ),
    # a question for the freelancer: parking, what to wear, receipts, insurance, gift cards...
    "question_topic": _cue(
        r"park\w*|stationn\w*|se stationne\w*|entrance|entree|door|porte|buzzer|ascenseur|"
        r"elevator|stairs|address|adresse|directions?",
        r"wear|porter|bring|apporter|amener|(?:fill|forms?)|formulaire|intake",
        r"receipts?|recus?|invoices?|factures?|insurance|assurances?|assureur|coverage|"
        r"registration|membre|member(?:ship)?|association|numero|number",
        r"gift (?:cards?|certificates?)|certificats?-cadeaux?|cartes?-cadeaux?|bons? cadeaux?",
        r"zoom|link|lien|phone|telephone|in person|en personne|online|en ligne|teams",
        r"pay(?:ment)?|payer|paiement|e-?transfer|virement|interac|cheques?|checks?|cash|"
        r"comptant|credit card|carte",
        r"allerg\w*|pregnan\w*|enceinte|baby|bebe|accompan\w*|join|confidential\w*",
        r"originals?|originaux|scans?|copies|apostille|accepted|acceptee?s?|recognized|"
        r"reconnue?s?|certif\w*",
    ),
    # "my appointment", "mon rendez-vous de jeudi", "tomorrow's session", "notre séance"
    "my_appointment": _cue(
        r"(?:my|our|the|this|next|tomorrow's|today's|" + _DAY + r"'s) (?:usual |next |upcoming )?"
        r"(?:" + _APPT + r")",
        r"(?:mon|ma|notre|le|la|nos|mes) (?:prochain |prochaine )?(?:" + _APPT + r")"
        r"(?: (?:de|du|d'|prevue?))?",
        r"(?:i|we) (?:have|had|booked) (?:an? |my )?(?:appointment|session|massage|call)",
        r"j'ai (?:un )?(?:rendez-vous|rdv|mon massage|ma seance)|confirm\w*",
    ),
    # thanks and looking back: "thank you for today", "merci pour hier", "it was great"
    "thanks": _cue(
        r"thank you for|thanks for|thanks again|thank u|merci (?:encore|beaucoup pour|pour|"
        r"d'avoir|infiniment)|un grand merci|je voulais (?:vous|te) remercier|"
        r"(?:wanted|want) to (?:say )?thank",
        r"feel(?:s|ing)? (?:so much )?(?:better|amazing|great|lighter)|(?:va|vont) (?:beaucoup )?"
        r"mieux|fait (?:un )?bien|was (?:great|amazing|perfect|wonderful)|all perfect",
        r"no need to reply|pas besoin de (?:me )?repondre|got them|received|bien recu",
    ),
    # somebody else will write: "my colleague will write to you to book"
    "third_party": _cue(
        r"will (?:write|email|e-mail|reach out|contact|get in touch)(?: to)?(?: with)? you",
        r"(?:va|vont|devrait) (?:vous|t') ?(?:ecrire|contacter|joindre)|vous ecrira|t'ecrira|"
        r"(?:reach|write) (?:out )?to you (?:directly|herself|himself)|let (?:her|him|them) reach",
        r"je (?:te|vous) presente|i'm copying|introduc\w*|presentation",
    ),
    # social life: dinners, drinks, parties, coffee
    "social": _cue(
        r"souper|diner|dinner|drinks?|party|parties|5 a 7|cinq a sept|cafe|coffee|brunch|"
        r"birthday|anniversaire|fete|bar|resto|restaurant|noel|christmas|sapin|wine|apero|"
        r"bisous|bises|xo+|love,|beta|soeurette|maman|mom|dad|papa",
    ),
    # business offers, recruiting, vendors, software
    "business": _cue(
        r"opportunit\w*|recrut\w*|recruit\w*|hiring|job|poste|cdi|cv|stage|talent\w*|vendor\w*",
        r"webinar|webinaire|platform|plateforme|free trial|essai gratuit|demo|seo|referencement|"
        r"visibilit\w*|profil\w*|your practice|votre pratique|your (?:website|site)|"
        r"votre site|grow|leads?|caseload|audit",
        r"invoice #|facture (?:no|n°|n)|order #|commande|purchase order|po \d+|abonnement|"
        r"subscription|renew\w*|renouvel\w*|payout|shipped|livraison|tracking|suivi",
        r"project|projet|mission|word count|words?,|mots|deadline|sous-trait\w*|subcontract\w*",
    ),
    # a machine wrote it: unsubscribe links, "do not reply", "automatically generated"
    "machine_words": _cue(
        r"unsubscribe|se desabonner|desabonn\w*|desinscri\w*|manage (?:your )?(?:preferences|"
        r"notifications)|update your preferences|gerer (?:les|mes) notifications",
        r"do not reply|don't reply|please do not reply|ne pas (?:y )?repondre|merci de ne pas "
        r"(?:y )?repondre",
        r"automatically generated|automated message|message automatique|genere automatiquement|"
        r"envoye automatiquement|automatiquement",
        r"you(?:'re| are) receiving this|vous recevez (?:cet|ce) (?:e-?mail|courriel|message)|"
        r"view (?:it )?in (?:your )?browser|reply to review|repondre a l'avis",
    ),
}

# Cues whose match in a short reply is the whole message: "2", "le 2 svp", "ok pour le 1".
_BARE_PICK = re.compile(
    r"^\W*(?:(?:ok|oui|yes|parfait|super|go|va)\W+)?(?:pour |for |pour le |for the |le |la |"
    r"the |option |number |n[o°]\s?|#)?[1-9](?:st|nd|rd|th|er|e)?(?:\W+(?:svp|stp|please|pls|plz|"
    r"merci|thanks|thx|thank you|x+|beaucoup)){0,3}\W*$"
)


def cue_hits(folded: str) -> dict[str, str]:
    """Each cue found in the folded text, with the first words that matched it. Hard-wrapped
    lines are joined first: "could\nwe book" is "could we book"."""
    folded = " ".join(folded.split())
    found: dict[str, str] = {}
    for name, pattern in CUES.items():
        match = pattern.search(folded)
        if match:
            found[name] = match.group(0)
    return found


def bare_pick(folded_first_lines: str) -> bool:
    """Whether the writer's text is only a number, as a reply to numbered times is."""
    return bool(_BARE_PICK.match(folded_first_lines.strip()))


__all__ = ["CUES", "bare_pick", "cue_hits"]
